package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Issue 13, point 22: every article the legal basis cites names its regulation:
// "Pasal 28" alone names none.
func TestReportBasisNamesRegulations(t *testing.T) {
	src := `state_dir: /s
drcs: [{name: local, role: primary, path: /l}]
agencies: [{id: x}]
report:
  basis:
    - "Peraturan Wali Kota Singkawang Nomor 24 Tahun 2019, Pasal 26 ayat (4);"
    - "Pasal 28: monitoring dan evaluasi paling sedikit satu kali dalam setahun;"
    - "Article 7 of the SOP"
    - "SOP Pengujian DRC."
`
	_, err := Parse("cadang.yaml", []byte(src))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *Error, got %v", err)
	}
	want := []string{
		`cadang.yaml:7:7: report.basis[1]: cites Pasal 28 without naming its regulation (e.g. "Peraturan ... Nomor ... Tahun ..., Pasal 28")`,
		`cadang.yaml:8:7: report.basis[2]: cites Article 7 without naming its regulation (e.g. "Peraturan ... Nomor ... Tahun ..., Pasal 28")`,
	}
	if got := cerr.Error(); got != strings.Join(want, "\n") {
		t.Errorf("problems:\n got: %s\nwant: %s", got, strings.Join(want, "\n      "))
	}
}

func TestReportNumberFormat(t *testing.T) {
	r := Report{}
	if got := r.Number(7, 2026, time.November); got != "007/BA-DRC/XI/2026" {
		t.Errorf("default: %s", got)
	}
	r.NumberFormat = "{seq:03}/BA-DRC/DKISP/{year}"
	if got := r.Number(12, 2027, time.January); got != "012/BA-DRC/DKISP/2027" {
		t.Errorf("configured: %s", got)
	}
	src := `state_dir: /s
drcs: [{name: local, role: primary, path: /l}]
agencies: [{id: x, head: {name: Siti, title: Kepala Dinas}}]
report: {number_format: "BA-DRC/{year}"}
`
	_, err := Parse("cadang.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "report.number_format: the format has no {seq}") {
		t.Errorf("a format without {seq}: %v", err)
	}
	src = strings.Replace(src, "BA-DRC/{year}", "{seq}/{bulan}", 1)
	if _, err := Parse("cadang.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "unknown placeholder {bulan}") {
		t.Errorf("an unknown placeholder: %v", err)
	}
}

// Issue 13, point 24: the performer of a step is configured per step kind.
func TestReportPerformers(t *testing.T) {
	r := Report{Performers: map[string]string{"verify": "Pemeriksa Teknologi Informasi", "restore": "Pengelola Teknologi Informasi", "default": "Operator DRC"}}
	for key, want := range map[string]string{
		"verify-listing": "Pemeriksa Teknologi Informasi", "verify": "Pemeriksa Teknologi Informasi",
		"restore": "Pengelola Teknologi Informasi", "snapshot": "Operator DRC",
	} {
		if got := r.PerformerOf(key); got != want {
			t.Errorf("PerformerOf(%q) = %q, want %q", key, got, want)
		}
	}
	if got := (&Report{}).PerformerOf("restore"); got != "" {
		t.Errorf("no performers: %q (want the report's default)", got)
	}
}

func TestReportPerformersUnknownStep(t *testing.T) {
	src := `state_dir: /s
drcs: [{name: local, role: primary, path: /l}]
agencies: [{id: x}]
report: {performers: {restor: Operator, verify-listing: Pemeriksa}}
`
	_, err := Parse("cadang.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `report.performers.restor: unknown step "restor"`) || strings.Contains(err.Error(), "verify-listing") {
		t.Errorf("performers: %v", err)
	}
}
