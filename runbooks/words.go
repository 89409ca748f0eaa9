package runbooks

import (
	"fmt"
	"strings"
	"time"
)

var satuan = []string{"nol", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan", "sepuluh", "sebelas"}

// Terbilang writes n in Indonesian words, as official documents spell numbers out:
// 1 "satu", 11 "sebelas", 15 "lima belas", 21 "dua puluh satu", 100 "seratus", 1000
// "seribu", 2026 "dua ribu dua puluh enam", 1000000 "satu juta".
func Terbilang(n int64) string {
	if n < 0 {
		return "minus " + Terbilang(-n)
	}
	switch {
	case n < 12:
		return satuan[n]
	case n < 20:
		return Terbilang(n-10) + " belas"
	case n < 100:
		return join(Terbilang(n/10)+" puluh", n%10)
	case n < 200:
		return join("seratus", n-100)
	case n < 1000:
		return join(Terbilang(n/100)+" ratus", n%100)
	case n < 2000:
		return join("seribu", n-1000)
	}
	for _, u := range []struct {
		size int64
		name string
	}{{1e12, "triliun"}, {1e9, "miliar"}, {1e6, "juta"}, {1e3, "ribu"}} {
		if n >= u.size {
			return join(Terbilang(n/u.size)+" "+u.name, n%u.size)
		}
	}
	return fmt.Sprint(n)
}

// join writes head, then rest in words unless it is zero.
func join(head string, rest int64) string {
	if rest == 0 {
		return head
	}
	return head + " " + Terbilang(rest)
}

// dateInWords writes the day of a Berita Acara's opening: in Indonesian spelled out,
// with the date in figures after it ("Selasa tanggal satu bulan Desember tahun dua
// ribu dua puluh enam (01-12-2026)"); in English "Tuesday, 1 December 2026".
func (v *vocab) dateInWords(t time.Time) string {
	if v.Code != LangID {
		return v.longDate(t)
	}
	return strings.Join([]string{v.Weekdays[t.Weekday()], "tanggal", Terbilang(int64(t.Day())), "bulan",
		v.Months[t.Month()-1], "tahun", Terbilang(int64(t.Year())), "(" + t.Format("02-01-2006") + ")"}, " ")
}
