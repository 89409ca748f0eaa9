package export

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sampleSHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func jakarta(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// sample is a hand-over downloaded at 2026-11-30 20:30 UTC: Tuesday 1 December 2026,
// 03:30 in Jakarta (WIB), another day than in UTC.
func sample(t testing.TB) Handover {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	return Handover{
		ExportID:     4217,
		Agency:       "Dinas Kesehatan Kota Singkawang",
		Target:       "simpus-db",
		Snapshot:     "4bd5c3a1e9f0a7d2c6b8e1f3a5d7c9b0e2f4a6c8d0b2e4f6a8c0d2e4f6a8b0c2",
		SnapshotTime: utc("2026-11-29T19:00:00Z"),
		Paths:        []string{"/var/lib/postgresql/dump", "/srv/simpus/lampiran"},
		Ticket:       "LAYANAN-2026-0117",
		Requester:    "dr. Siti Rahmawati",
		Approvers: []Approver{
			{Name: "Agus Salim, S.T.", Role: "Kepala Bidang Aplikasi Informatika", Time: utc("2026-11-30T02:10:00Z"), Comment: "Sesuai surat permohonan No. 400/123/Dinkes"},
			{Name: "Rina Kartika, S.Kom.", Role: "Kepala Seksi Persandian", Time: utc("2026-11-30T03:00:00Z")},
		},
		Recipient:    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
		Bytes:        10<<20 + 12345,
		SHA256:       sampleSHA,
		Created:      utc("2026-11-30T09:45:00Z"),
		Downloaded:   utc("2026-11-30T20:30:00Z"),
		DownloadedBy: "Budi Santoso",
		Source:       "10.20.30.40",
		Provider:     "Dinas Komunikasi dan Informatika Kota Singkawang",
		Zone:         jakarta(t),
	}
}

func render(t *testing.T, h Handover, format, lang string) []byte {
	t.Helper()
	b, err := h.Render(format, lang)
	if err != nil {
		t.Fatalf("%s/%s: %v", format, lang, err)
	}
	if dir := os.Getenv("CADANG_KEEP_PDF"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "handover-"+lang+"."+format), b, 0o644)
	}
	return b
}

// The day, the date spelled out and the month are Jakarta's, in Indonesian.
func TestIndonesianDate(t *testing.T) {
	h := sample(t)
	v, _ := vocabOf("id")
	want := "Pada hari ini, Selasa, tanggal satu bulan Desember tahun dua ribu dua puluh enam (01-12-2026), pukul 03.30 WIB, telah dilakukan serah terima data antara:"
	if got := h.localize().opening(v); got != want {
		t.Errorf("opening\n got %q\nwant %q", got, want)
	}
	en, _ := vocabOf("en")
	if got, want := h.localize().opening(en), "On Tuesday, 1 December 2026, at 03:30 WIB, data was handed over between:"; got != want {
		t.Errorf("opening\n got %q\nwant %q", got, want)
	}
	for _, tc := range []struct {
		at   string
		zone string
		want string
	}{
		{"2026-08-17T01:00:00Z", "Asia/Jakarta", "Senin, tanggal tujuh belas bulan Agustus tahun dua ribu dua puluh enam (17-08-2026)"},
		{"2027-02-28T17:10:00Z", "Asia/Makassar", "Senin, tanggal satu bulan Maret tahun dua ribu dua puluh tujuh (01-03-2027)"},
		{"2026-01-03T12:00:00Z", "Asia/Jayapura", "Sabtu, tanggal tiga bulan Januari tahun dua ribu dua puluh enam (03-01-2026)"},
	} {
		tm, _ := time.Parse(time.RFC3339, tc.at)
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.dateInWords(tm.In(loc)); got != tc.want {
			t.Errorf("%s in %s: %q, want %q", tc.at, tc.zone, got, tc.want)
		}
	}
	// Every month and weekday name, and the zone labels.
	months := []string{"Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember"}
	for m := 1; m <= 12; m++ {
		if got := v.date(time.Date(2026, time.Month(m), 15, 12, 0, 0, 0, jakarta(t))); got != "15 "+months[m-1]+" 2026" {
			t.Errorf("month %d: %q", m, got)
		}
	}
	days := []string{"Kamis", "Jumat", "Sabtu", "Minggu", "Senin", "Selasa", "Rabu"} // 1 January 2026 is a Thursday
	for d := 0; d < 7; d++ {
		tm := time.Date(2026, 1, 1+d, 9, 0, 0, 0, jakarta(t))
		if got := v.Weekdays[tm.Weekday()]; got != days[d] {
			t.Errorf("%s: %q, want %q", tm.Format("2006-01-02"), got, days[d])
		}
	}
	mk, _ := time.LoadLocation("Asia/Makassar")
	if got := v.dateTime(h.Downloaded.In(mk)); got != "1 Desember 2026 pukul 04.30 WITA" {
		t.Errorf("dateTime in Makassar: %q", got)
	}
	if got := v.size(10<<20 + 12345); got != "10,0 MiB (10.498.105 byte)" {
		t.Errorf("size: %q", got)
	}
	if got := en.size(1234567); got != "1.2 MiB (1,234,567 bytes)" {
		t.Errorf("size: %q", got)
	}
}

func TestRenderHTML(t *testing.T) {
	h := sample(t)
	id := string(render(t, h, "html", "id"))
	for _, w := range []string{
		`<html lang="id">`,
		"BERITA ACARA SERAH TERIMA DATA",
		"Nomor Ekspor: 4217",
		"Pada hari ini, Selasa, tanggal satu bulan Desember tahun dua ribu dua puluh enam (01-12-2026), pukul 03.30 WIB, telah dilakukan serah terima data antara:",
		"Dinas Komunikasi dan Informatika Kota Singkawang, selaku penyedia layanan pusat data, yang selanjutnya disebut PIHAK PERTAMA;",
		"Budi Santoso, atas nama Dinas Kesehatan Kota Singkawang, selaku penerima data, yang selanjutnya disebut PIHAK KEDUA.",
		"Dengan diserahterimakannya data tersebut, sejak saat itu data berada di luar tanggung jawab penyedia layanan pusat data sebagaimana diatur dalam kebijakan 5.2.b.",
		"Demikian berita acara serah terima data ini dibuat dengan sebenarnya untuk dipergunakan sebagaimana mestinya.",
		sampleSHA,
		h.Recipient,
		h.Snapshot + " (30 November 2026 pukul 02.00 WIB)",
		"/var/lib/postgresql/dump<br>/srv/simpus/lampiran",
		"LAYANAN-2026-0117",
		"10,0 MiB (10.498.105 byte)",
		"1 Desember 2026 pukul 03.30 WIB",
		"Tabel 2. Persetujuan Permintaan Ekspor",
		"Kepala Bidang Aplikasi Informatika",
		"30 November 2026 pukul 09.10 WIB",
		"PIHAK PERTAMA,", "PIHAK KEDUA,",
		"PIHAK PERTAMA dan PIHAK KEDUA menyatakan hal-hal sebagai berikut:",
		"Serah terima ini dilaksanakan atas permintaan dr. Siti Rahmawati. Permintaan tersebut telah disetujui sebagaimana tercantum dalam Tabel 2.",
		"10.20.30.40",
	} {
		if !strings.Contains(id, w) {
			t.Errorf("id html lacks %q", w)
		}
	}
	en := string(render(t, h, "html", "en"))
	for _, w := range []string{
		`<html lang="en">`, "MINUTES OF DATA HANDOVER", "Export number: 4217",
		"With the handover of this data, from that moment the data is outside the responsibility of the data center service provider, as set out in policy 5.2.b.",
		sampleSHA, "FIRST PARTY,", "SECOND PARTY,", "1 December 2026 at 03:30 WIB",
	} {
		if !strings.Contains(en, w) {
			t.Errorf("en html lacks %q", w)
		}
	}
	if strings.Contains(en, "tanggung jawab") {
		t.Error("en html speaks Indonesian")
	}
	// Names are escaped.
	h.Agency = `<script>alert(1)</script>`
	if s := string(render(t, h, "html", "id")); strings.Contains(s, "<script>") {
		t.Error("html does not escape the agency")
	}
}

// Without a provider's name, approvals or a named recipient, the report still says
// who the parties are, with blank lines to sign on.
func TestRenderMinimal(t *testing.T) {
	h := sample(t)
	h.Provider, h.Approvers, h.DownloadedBy, h.Requester, h.Paths, h.Zone = "", nil, "", "", nil, nil
	s := string(render(t, h, "html", ""))
	for _, w := range []string{
		"Penyedia layanan pusat data, yang selanjutnya disebut PIHAK PERTAMA;",
		"Dinas Kesehatan Kota Singkawang, selaku pemilik dan penerima data, yang selanjutnya disebut PIHAK KEDUA.",
		"Serah terima ini dilaksanakan atas permintaan Dinas Kesehatan Kota Singkawang.",
		"Seluruh isi snapshot",
		"pukul 03.30 WIB", // nil zone: Jakarta
	} {
		if !strings.Contains(s, w) {
			t.Errorf("minimal html lacks %q", w)
		}
	}
	if strings.Contains(s, "Tabel 2") {
		t.Error("minimal html has an approvals table")
	}
	if _, err := h.Render("pdf", "id"); err != nil {
		t.Error(err)
	}
}

func TestRenderJSON(t *testing.T) {
	h := sample(t)
	var doc map[string]any
	if err := json.Unmarshal(render(t, h, "json", "id"), &doc); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"document": "BERITA ACARA SERAH TERIMA DATA", "language": "id", "time_zone": "Asia/Jakarta", "zone_label": "WIB",
		"export_id": 4217.0, "sha256": sampleSHA, "policy": "5.2.b", "downloaded": "2026-12-01T03:30:00+07:00",
		"statement": "Dengan diserahterimakannya data tersebut, sejak saat itu data berada di luar tanggung jawab penyedia layanan pusat data sebagaimana diatur dalam kebijakan 5.2.b.",
	} {
		if doc[k] != want {
			t.Errorf("json %s = %v, want %v", k, doc[k], want)
		}
	}
	if a, _ := doc["approvers"].([]any); len(a) != 2 {
		t.Errorf("json approvers: %v", doc["approvers"])
	}
	var en map[string]any
	if err := json.Unmarshal(render(t, h, "json", "en"), &en); err != nil {
		t.Fatal(err)
	}
	if en["language"] != "en" || !strings.Contains(en["statement"].(string), "outside the responsibility") {
		t.Errorf("en json: %v %v", en["language"], en["statement"])
	}
	// The record keeps its own times (Render works on a copy).
	if h.Downloaded.Location() != time.UTC {
		t.Error("Render changed the record's times")
	}
}

func TestRenderPDF(t *testing.T) {
	for _, lang := range []string{"id", "en"} {
		h := sample(t)
		pdf := render(t, h, "pdf", lang)
		if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
			t.Fatalf("%s: not a PDF: %q", lang, pdf[:min(len(pdf), 10)])
		}
		if !bytes.Contains(pdf, []byte("%%EOF")) {
			t.Errorf("%s: PDF has no end", lang)
		}
		want := map[string][]string{
			"id": {"/Title (BERITA ACARA SERAH TERIMA DATA 4217)", "(BERITA ACARA SERAH TERIMA DATA)", "(Nomor Ekspor: 4217)", "PIHAK PERTAMA,", "PIHAK KEDUA,", "Tabel 1. Rincian Data yang Diserahterimakan"},
			"en": {"/Title (MINUTES OF DATA HANDOVER 4217)", "(MINUTES OF DATA HANDOVER)", "(Export number: 4217)", "FIRST PARTY,", "SECOND PARTY,"},
		}[lang]
		want = append(want, sampleSHA[:40])
		for _, w := range want {
			if !bytes.Contains(pdf, []byte(w)) {
				t.Errorf("%s PDF lacks %q", lang, w)
			}
		}
	}
}

func TestRenderErrors(t *testing.T) {
	h := sample(t)
	if _, err := h.Render("docx", "id"); err == nil || !strings.Contains(err.Error(), "docx") {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := h.Render("html", "jv"); err == nil || !strings.Contains(err.Error(), "jv") {
		t.Errorf("unknown language: %v", err)
	}
	for name, mut := range map[string]func(*Handover){
		"not downloaded": func(h *Handover) { h.Downloaded = time.Time{} },
		"no export id":   func(h *Handover) { h.ExportID = 0 },
		"no agency":      func(h *Handover) { h.Agency = " " },
		"bad digest":     func(h *Handover) { h.SHA256 = "abc" },
	} {
		b := sample(t)
		mut(&b)
		for _, f := range []string{"json", "html", "pdf"} {
			if _, err := b.Render(f, "id"); err == nil {
				t.Errorf("%s: %s rendered", name, f)
			}
		}
	}
}
