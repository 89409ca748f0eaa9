package runbooks

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/internal/testenv"
	"github.com/cadang/cadang/runbooks/msg"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	wib = time.FixedZone("WIB", 7*3600)
	t0  = time.Date(2026, 11, 23, 3, 0, 0, 0, wib)
)

// titles are the steps' titles, as the engine and the files kind record them.
var titles = map[string]Message{
	"snapshot": msg.New("drill.snapshot.title"), "packs": msg.New("drill.packs.title"),
	"restore": msg.New("files.restore.title"), "verify-listing": msg.New("files.listing.title"),
	"verify-sample": msg.New("files.sample.title"), "cleanup": msg.New("files.cleanup.title"),
}

// summaries are what the steps found when they pass.
var summaries = map[string]Message{
	"snapshot":       msg.New("drill.snapshot.done", "id", "3f9a6c2e", "age", 5*time.Hour),
	"packs":          msg.New("drill.packs.ok", "packs", 4, "bytes", 20<<20),
	"restore":        msg.New("files.restore.done", "files", 120, "bytes", 1<<20),
	"verify-listing": msg.New("files.listing.ok", "files", 120, "bytes", 1<<20),
	"verify-sample":  msg.New("files.sample.ok", "same", 16, "n", 16),
	"cleanup":        msg.New("files.cleanup.done", "dir", "/var/lib/cadang/scratch/drill-42/restore"),
}

func steps(start time.Time, failAt int, keys ...string) []StepResult {
	var out []StepResult
	at := start
	for i, k := range keys {
		s := StepResult{No: i + 1, Key: k, Title: titles[k], Timeout: 30 * time.Minute, Status: StepOK, Started: at, Ended: at.Add(90 * time.Second)}
		if k == "cleanup" {
			s.Performer = "Pengelola Teknologi Informasi"
		}
		switch {
		case failAt > 0 && i+1 == failAt:
			s.Status = StepFailed
			s.Error = msg.New("files.listing.differ", "n", 1, "files", 120,
				"first", msg.New("files.problem.size", "path", "/srv/portal/index.html", "got", 4096, "want", 4311))
		case failAt > 0 && i+1 > failAt && k != "cleanup":
			s.Status, s.Started, s.Ended = StepSkipped, time.Time{}, time.Time{}
		default:
			s.Summary = summaries[k]
		}
		if !s.Started.IsZero() {
			at = s.Ended
		}
		out = append(out, s)
	}
	return out
}

// sample is a drill of two targets: one passed from the local DRC, one failed from the
// off-site DRC, with past drills for the trend.
func sample(language string) *Report {
	r := &Report{
		Kind: ReportDrill, Language: language, Number: "007/UJI-DRC/XI/2026", Run: 42, Generated: t0.Add(time.Hour), TimeZone: "Asia/Jakarta",
		Office: Office{Name: "Dinas Komunikasi, Informatika, Statistik dan Persandian Provinsi Kalimantan Utara",
			Unit: "Bidang Aplikasi Informatika", Address: "Jl. Kolonel Soetadji, Tanjung Selor", City: "Tanjung Selor"},
		Signers: Signers{
			PerformedBy: Person{Name: "Rina Kartika, S.Kom.", Title: "Pranata Komputer Ahli Muda", NIP: "198801012010012001"},
			ApprovedBy:  Person{Name: "Ir. Budi Santoso, M.T.", Title: "Kepala Bidang Aplikasi Informatika", NIP: "197505052000031002"},
		},
		Results: []TargetResult{
			{Run: 42, Target: "simpus-db", Agency: "dinkes", AgencyName: "Dinas Kesehatan", Kind: "postgres", DRC: "local",
				Snapshot: "3f9a6c2e0b1d4e5f", SnapshotTime: t0.Add(-5 * time.Hour), Started: t0, Ended: t0.Add(6 * time.Minute),
				RPOObjective: Duration(24 * time.Hour), RPOAchieved: Duration(5 * time.Hour), RTOObjective: Duration(4 * time.Hour), RTOMeasured: Duration(6 * time.Minute),
				BytesRestored: 524288000, Throughput: 1456355.5,
				Checks: []Check{{Name: msg.New("drill.packs.check", "drc", "local"), Passed: true, Detail: summaries["packs"]},
					{Name: msg.Bilingual("tables against the manifest recorded at backup", "tabel terhadap manifes saat pencadangan"), Passed: true,
						Detail: msg.Bilingual("12 tables, rows and checksums match", "12 tabel, jumlah baris dan checksum sesuai")},
					{Name: msg.Plain("SELECT count(*) > 0 FROM pasien"), Passed: true}},
				Steps: steps(t0, 0, "snapshot", "packs", "restore", "verify-listing", "cleanup"), Passed: true},
			{Run: 42, Target: "portal-files", Agency: "dinkes", AgencyName: "Dinas Kesehatan", Kind: "files", DRC: "offsite",
				Snapshot: "9b8a7c6d5e4f3a2b", SnapshotTime: t0.Add(-30 * time.Hour), Started: t0.Add(7 * time.Minute), Ended: t0.Add(10 * time.Minute),
				RPOObjective: Duration(24 * time.Hour), RPOAchieved: Duration(30 * time.Hour), RTOObjective: Duration(time.Hour), RTOMeasured: Duration(3 * time.Minute),
				BytesRestored: 1048576, Throughput: 5825.4,
				Checks: []Check{{Name: msg.New("drill.packs.check", "drc", "offsite"), Passed: true, Detail: summaries["packs"]},
					{Name: msg.New("files.listing.check"), Passed: false, Detail: msg.New("files.listing.differ", "n", 1, "files", 120,
						"first", msg.New("files.problem.size", "path", "/srv/portal/index.html", "got", 4096, "want", 4311))}},
				Steps: steps(t0.Add(7*time.Minute), 4, "snapshot", "packs", "restore", "verify-listing", "verify-sample", "cleanup"), Passed: false},
		},
	}
	for i := 0; i < 4; i++ {
		day := t0.AddDate(0, 0, -7*(4-i))
		r.Trend = append(r.Trend,
			TrendPoint{Run: uint64(10 + i), Time: day, Target: "simpus-db", DRC: "local", RTO: Duration(time.Duration(5+i) * time.Minute), RPO: Duration(6 * time.Hour), Passed: true},
			TrendPoint{Run: uint64(10 + i), Time: day, Target: "portal-files", DRC: "offsite", RTO: Duration(time.Duration(2+i) * time.Minute), RPO: Duration(8 * time.Hour), Passed: i != 2})
	}
	for _, res := range r.Results { // the drill itself, as the engine adds it
		r.Trend = append(r.Trend, TrendPoint{Run: 42, Time: res.Started, Target: res.Target, DRC: res.DRC, RTO: res.RTOMeasured, RPO: res.RPOAchieved, Passed: res.Passed})
	}
	r.Finish()
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run `go test ./runbooks -update` and review the diff", name)
	}
}

func TestFinishDerivesFindings(t *testing.T) {
	r := sample(LangID)
	if r.Passed {
		t.Error("a report with a failed target passed")
	}
	if strings.Join(r.Scope.DRCs, ",") != "local,offsite" || strings.Join(r.Scope.Targets, ",") != "portal-files,simpus-db" {
		t.Errorf("scope: %+v", r.Scope)
	}
	if !r.Period.From.Equal(t0) || !r.Period.To.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("period: %+v", r.Period)
	}
	texts := []string{}
	for _, f := range r.Findings {
		texts = append(texts, f.Text+" => "+f.FollowUp)
	}
	want := []string{
		"Langkah 4 (Membandingkan berkas hasil pemulihan dengan daftar isi snapshot) gagal pada DRC offsite: 1 dari 120 berkas tidak sesuai dengan daftar isi, yang pertama: /srv/portal/index.html: 4096 bita dipulihkan, 4311 bita terdaftar => Bandingkan data hasil pemulihan dengan sumber; selidiki perbedaan bersama Perangkat Daerah pemilik data, lalu ulangi uji.",
		"RPO tercapai 30 jam melebihi target 24 jam. => Periksa jadwal dan kegagalan backup sasaran ini; pastikan replikasi ke DRC berjalan.",
	}
	if strings.Join(texts, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s", strings.Join(texts, "\n"))
	}
}

func TestReportGolden(t *testing.T) {
	for _, lang := range []string{LangID, LangEN} {
		r := sample(lang)
		js, err := r.JSON()
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "drill-"+lang+".json", js)
		var back Report
		if err := json.Unmarshal(js, &back); err != nil || back.Results[0].RTOMeasured != r.Results[0].RTOMeasured {
			t.Errorf("json does not read back: %v", err)
		}
		html, err := r.HTML()
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "drill-"+lang+".html", html)
	}
	p := sample(LangID)
	p.Kind, p.Number, p.Run = ReportPeriod, "REKAP/2026-Q4", 0
	html, err := p.HTML()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "period-id.html", html)
}

func TestHTMLIsSelfContained(t *testing.T) {
	html, _ := sample(LangID).HTML()
	s := string(html)
	for _, bad := range []string{"<script", "<link", "src=\"http", "href=\"http", "@import"} {
		if strings.Contains(s, bad) {
			t.Errorf("the page refers to outside resources: %s", bad)
		}
	}
	for _, want := range []string{"BERITA ACARA UJI PEMULIHAN DRC", "<svg class=\"chart\"", "Dilaksanakan oleh", "Disetujui oleh", "GAGAL", "LULUS", "NIP. 197505052000031002"} {
		if !strings.Contains(s, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if n := strings.Count(s, `<rect class="bar`); n != 10 {
		t.Errorf("%d trend bars, want 10", n)
	}
}

// The PDF opens, has the expected pages and says what the report says.
func TestPDF(t *testing.T) {
	for _, tool := range []string{"pdftotext", "pdfinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "%s is missing: apt-get install poppler-utils", tool)
		}
	}
	for _, tc := range []struct {
		lang string
		want []string
	}{
		{LangID, []string{"BERITA ACARA UJI PEMULIHAN DRC", "Nomor: 007/UJI-DRC/XI/2026", "Pada hari ini Senin tanggal dua puluh tiga bulan November tahun dua ribu dua puluh enam (23-11-2026)",
			"A. DASAR", "C. PELAKSANAAN", "D. HASIL PENGUJIAN", "E. TREN HASIL UJI", "F. TEMUAN DAN TINDAK LANJUT",
			"simpus-db", "portal-files", "LULUS", "GAGAL", "Dilaksanakan oleh", "Disetujui oleh", "Rina Kartika, S.Kom.", "NIP. 197505052000031002",
			"RPO tercapai 30 jam melebihi target 24 jam."}},
		{LangEN, []string{"DRC RESTORE DRILL MINUTES", "Number: 007/UJI-DRC/XI/2026", "On Monday, 23 November 2026",
			"D. RESULTS", "PASSED", "FAILED", "Performed by", "Approved by", "Achieved RPO 30h exceeds the objective 24h."}},
	} {
		pdf, err := sample(tc.lang).PDF()
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "report.pdf")
		if err := os.WriteFile(file, pdf, 0o644); err != nil {
			t.Fatal(err)
		}
		info, err := exec.Command("pdfinfo", file).CombinedOutput()
		if err != nil {
			t.Fatalf("pdfinfo: %v\n%s", err, info)
		}
		if !strings.Contains(string(info), "Pages:") || strings.Contains(string(info), "Pages:          0") {
			t.Errorf("pdfinfo: %s", info)
		}
		text, err := exec.Command("pdftotext", "-layout", file, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		flat := strings.Join(strings.Fields(string(text)), " ")
		for _, w := range tc.want {
			if !strings.Contains(flat, strings.Join(strings.Fields(w), " ")) {
				t.Errorf("%s PDF lacks %q", tc.lang, w)
			}
		}
		if os.Getenv("CADANG_KEEP_PDF") != "" {
			_ = os.WriteFile(filepath.Join(os.Getenv("CADANG_KEEP_PDF"), "report-"+tc.lang+".pdf"), pdf, 0o644)
		}
	}
}

// Issue 13, point 22: the default legal basis is neutral (it cites no one city's
// regulation, which a provincial office would have to strike out), and any article a
// basis cites names its regulation.
func TestDefaultBasis(t *testing.T) {
	for _, code := range []string{LangID, LangEN} {
		r := &Report{Kind: ReportDrill, Language: code}
		lines := r.basisLines(lang(code))
		if len(lines) == 0 {
			t.Fatalf("%s: no default basis", code)
		}
		for _, l := range lines {
			if strings.Contains(l, "Singkawang") {
				t.Errorf("%s: the default basis cites a city's regulation: %q", code, l)
			}
			if art := ArticleWithoutRegulation(l); art != "" {
				t.Errorf("%s: %q cites %s without naming its regulation", code, l, art)
			}
		}
	}
	for line, want := range map[string]string{
		"Pasal 28: monitoring dan evaluasi;":                                                "Pasal 28",
		"Peraturan Wali Kota Singkawang Nomor 24 Tahun 2019 Pasal 22 ayat (6) dan Pasal 28": "",
		"Undang-Undang Nomor 25 Tahun 2009 tentang Pelayanan Publik, Pasal 15":              "",
		"Article 28(1): monitoring":                                                         "Article 28",
		"SOP Pengujian DRC":                                                                 "",
	} {
		if got := ArticleWithoutRegulation(line); got != want {
			t.Errorf("ArticleWithoutRegulation(%q) = %q, want %q", line, got, want)
		}
	}
}

// englishFragments are the pieces of the catalog's English texts between their
// placeholders, of two words or more, and the English form words of reports: none
// may appear in an Indonesian report.
func englishFragments() []string {
	var out []string
	add := func(s string) {
		s = strings.Trim(s, " .,:;()…")
		if len(strings.Fields(s)) >= 2 {
			out = append(out, s)
		}
	}
	for _, k := range msg.Keys() {
		en, id := msg.Template(k, msg.EN), msg.Template(k, msg.ID)
		if en == id {
			continue
		}
		for _, part := range regexp.MustCompile(`\{[^}]*\}`).Split(en, -1) {
			add(part)
		}
	}
	en, id := reflect.ValueOf(*lang(LangEN)), reflect.ValueOf(*lang(LangID))
	for i := 0; i < en.NumField(); i++ {
		if f := en.Field(i); f.Kind() == reflect.String && f.String() != id.Field(i).String() {
			for _, part := range regexp.MustCompile(`%\[?\d?\]?[a-z]`).Split(f.String(), -1) {
				add(part)
			}
		}
	}
	return out
}

// Issue 13, point 23: an Indonesian report holds no English sentence of the catalog:
// the texts the engine and the kinds record (step titles, summaries, checks, errors)
// are messages rendered in the report's language.
func TestIndonesianReportHasNoEnglish(t *testing.T) {
	r := sample(LangID)
	html, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	// In the JSON, what a reader sees: the texts (a message's arguments may hold a
	// kind's English beside its Indonesian, see msg.Bilingual).
	var doc any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	texts := append([]string{string(html)}, jsonTexts(doc)...)
	frags := englishFragments()
	if len(frags) < 30 {
		t.Fatalf("only %d English fragments: the test checks nothing", len(frags))
	}
	for _, text := range texts {
		for _, f := range frags {
			if regexp.MustCompile(`\b` + regexp.QuoteMeta(f) + `\b`).MatchString(text) {
				t.Errorf("the Indonesian report holds English: %q", f)
			}
		}
	}
	for _, want := range []string{"Memilih snapshot terbaru yang baik di DRC", "4 berkas pack, 20,0 MiB dibaca, seluruhnya utuh",
		"1 dari 120 berkas tidak sesuai dengan daftar isi", "Pengelola Teknologi Informasi"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the Indonesian report lacks %q", want)
		}
	}
	if !strings.Contains(string(js), `"text": "4 berkas pack, 20,0 MiB dibaca, seluruhnya utuh"`) {
		t.Error("the JSON report does not carry the rendered text of its messages")
	}
}

// Issue 13, point 23: the English report counts in English ("1 drill", not "1 drills").
func TestEnglishPlural(t *testing.T) {
	r := sample(LangEN)
	r.Results = r.Results[:1]
	r.Findings = nil
	r.Finish()
	html, _ := r.HTML()
	if !strings.Contains(string(html), "1 drill performed: 1 passed, 0 failed.") {
		t.Error("the English report does not say \"1 drill performed\"")
	}
	two, _ := sample(LangEN).HTML()
	if !strings.Contains(string(two), "2 drills performed: 1 passed, 1 failed.") {
		t.Error("the English report does not say \"2 drills performed\"")
	}
}

// jsonTexts returns the "text" values of a decoded JSON document.
func jsonTexts(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "text" {
				out = append(out, s)
			} else if k != "args" {
				out = append(out, jsonTexts(e)...)
			}
		}
	case []any:
		for _, e := range x {
			out = append(out, jsonTexts(e)...)
		}
	}
	return out
}

// Issue 13, point 24: the trend chart says which DRC each bar is, and marks the drill
// the report is about.
func TestTrendChartNamesDRCsAndMarksThisDrill(t *testing.T) {
	r := sample(LangID)
	html, _ := r.HTML()
	s := string(html)
	trend := s[strings.Index(s, `<section id="trend">`):strings.Index(s, `<section id="findings">`)]
	if n := len(regexp.MustCompile(`class="drc"[^>]*>local<`).FindAllString(trend, -1)); n != 5 {
		t.Errorf("%d bars labelled local, want 5", n)
	}
	if n := len(regexp.MustCompile(`class="drc"[^>]*>offsite<`).FindAllString(trend, -1)); n != 5 {
		t.Errorf("%d bars labelled offsite, want 5", n)
	}
	if n := strings.Count(trend, `class="bar current"`); n != 2 {
		t.Errorf("%d bars marked as this drill, want 2 (one per target)", n)
	}
	if !strings.Contains(trend, "Batang bertepi hitam adalah uji ini.") {
		t.Error("the caption does not say how this drill is marked")
	}
}
