package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cadang/cadang/runbooks"
)

// Report configures the reports drills write.
type Report struct {
	// Language is id (Bahasa Indonesia, the default) or en.
	Language string `yaml:"language"`
	// Dir is where each drill writes its report files (default <state_dir>/reports;
	// relative to the config file's folder).
	Dir     string           `yaml:"dir"`
	Office  runbooks.Office  `yaml:"office"`
	Signers runbooks.Signers `yaml:"signers"`
	// Basis are the legal basis lines of the minutes ("Dasar"): the regulations and the
	// SOP the drill follows, written in the report's language. Every article a line
	// cites names its regulation ("Peraturan Wali Kota Singkawang Nomor 24 Tahun 2019,
	// Pasal 26 ayat (4)"). Default: a neutral basis (the applicable regulations, the
	// DRC testing SOP, the drill schedule), since which regulation applies depends on
	// the office.
	Basis []string `yaml:"basis"`
	// Performers name who performs each step of a drill in the report's "Pelaksana"
	// column (the role or person responsible, as an SOP names them), by step key
	// (snapshot, packs, restore, verify, cleanup; verify covers verify-listing,
	// verify-manifest, ...), with "default" for the others. Unset: the title of
	// signers.performed_by. cadang is the tool, never the performer.
	Performers map[string]string `yaml:"performers"`
}

// PerformerOf returns who performs the drill step key (see Performers), or "" for
// the report's default.
func (r *Report) PerformerOf(key string) string {
	if p, ok := r.Performers[key]; ok {
		return p
	}
	if kind, _, ok := strings.Cut(key, "-"); ok {
		if p, ok := r.Performers[kind]; ok {
			return p
		}
	}
	return r.Performers["default"]
}

// ReportDir is where drill reports go.
func (c *Config) ReportDir() string {
	if c.Report.Dir != "" {
		return c.Report.Dir
	}
	return filepath.Join(c.StateDir, "reports")
}

func (r *Report) validate(report func(field, msg string)) {
	switch r.Language {
	case "", "id", "en":
	default:
		report("language", fmt.Sprintf("%q: id (Bahasa Indonesia) or en", r.Language))
	}
	for i, line := range r.Basis {
		if art := runbooks.ArticleWithoutRegulation(line); art != "" {
			report(fmt.Sprintf("basis[%d]", i), fmt.Sprintf("cites %s without naming its regulation (e.g. \"Peraturan ... Nomor ... Tahun ..., Pasal 28\")", art))
		}
	}
}
