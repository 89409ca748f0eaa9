package config

import (
	"errors"
	"strings"
	"testing"
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
