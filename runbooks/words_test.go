package runbooks

import (
	"strings"
	"testing"
	"time"
)

// Issue 13, point 24: numbers and dates written out as Berita Acara write them.
func TestTerbilang(t *testing.T) {
	for n, want := range map[int64]string{
		0: "nol", 1: "satu", 9: "sembilan", 10: "sepuluh", 11: "sebelas", 12: "dua belas", 19: "sembilan belas",
		20: "dua puluh", 21: "dua puluh satu", 31: "tiga puluh satu", 99: "sembilan puluh sembilan",
		100: "seratus", 101: "seratus satu", 111: "seratus sebelas", 200: "dua ratus", 999: "sembilan ratus sembilan puluh sembilan",
		1000: "seribu", 1001: "seribu satu", 1999: "seribu sembilan ratus sembilan puluh sembilan",
		2000: "dua ribu", 2026: "dua ribu dua puluh enam", 2100: "dua ribu seratus", 11000: "sebelas ribu",
		100000: "seratus ribu", 101000: "seratus satu ribu", 1000000: "satu juta", 2500000: "dua juta lima ratus ribu",
		1000000000: "satu miliar", -5: "minus lima",
	} {
		if got := Terbilang(n); got != want {
			t.Errorf("Terbilang(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestOpeningDateInWords(t *testing.T) {
	r := sample(LangID)
	r.Results = r.Results[:1]
	r.Results[0].Started = time.Date(2026, 12, 1, 10, 17, 0, 0, wib)
	r.Period.From = time.Time{}
	r.Finish()
	if got := r.openingText(lang(LangID)); !strings.HasPrefix(got, "Pada hari ini Selasa tanggal satu bulan Desember tahun dua ribu dua puluh enam (01-12-2026)") {
		t.Errorf("opening: %s", got)
	}
}
