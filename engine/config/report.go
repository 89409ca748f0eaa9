package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

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
	// NumberFormat is how a drill report's document number is written; its sequence
	// comes from a register in the catalog, counted per year from 1. Placeholders:
	// {seq} (or {seq:03} for at least three digits), {year}, {month} (01-12) and
	// {month:roman} (I-XII). Default DefaultNumberFormat.
	NumberFormat string `yaml:"number_format"`
}

// DefaultNumberFormat is the default of report.number_format: "007/BA-DRC/XI/2026".
const DefaultNumberFormat = "{seq:03}/BA-DRC/{month:roman}/{year}"

var romanMonths = []string{"I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"}

// Number writes document number seq of year, dated in month, in NumberFormat.
func (r *Report) Number(seq, year int, month time.Month) string {
	s, _ := formatNumber(r.NumberFormat, seq, year, month)
	return s
}

func formatNumber(format string, seq, year int, month time.Month) (string, error) {
	if format == "" {
		format = DefaultNumberFormat
	}
	var b strings.Builder
	hasSeq := false
	for format != "" {
		i := strings.IndexByte(format, '{')
		if i < 0 {
			b.WriteString(format)
			break
		}
		j := strings.IndexByte(format[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("%q: an unclosed {", format)
		}
		b.WriteString(format[:i])
		name, width, _ := strings.Cut(format[i+1:i+j], ":")
		switch {
		case name == "seq" && width == "":
			b.WriteString(strconv.Itoa(seq))
			hasSeq = true
		case name == "seq":
			w, err := strconv.Atoi(width)
			if err != nil || w < 1 || w > 9 {
				return "", fmt.Errorf("{seq:%s}: the width is a number of digits, e.g. {seq:03}", width)
			}
			fmt.Fprintf(&b, "%0*d", w, seq)
			hasSeq = true
		case name == "year" && width == "":
			b.WriteString(strconv.Itoa(year))
		case name == "month" && width == "":
			fmt.Fprintf(&b, "%02d", int(month))
		case name == "month" && width == "roman":
			b.WriteString(romanMonths[(int(month)+11)%12])
		default:
			return "", fmt.Errorf("unknown placeholder {%s} (use {seq}, {seq:03}, {year}, {month}, {month:roman})", format[i+1:i+j])
		}
		format = format[i+j+1:]
	}
	if !hasSeq {
		return "", errors.New("the format has no {seq}: every report would have the same number")
	}
	return b.String(), nil
}

// performerKeys are the steps report.performers can name.
var performerKeys = map[string]bool{"snapshot": true, "packs": true, "restore": true, "verify": true, "boot": true, "cleanup": true, "default": true}

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
	if _, err := formatNumber(r.NumberFormat, 1, 2026, time.January); err != nil {
		report("number_format", err.Error())
	}
	for key := range r.Performers {
		if !performerKeys[key] && !strings.HasPrefix(key, "verify-") {
			report("performers."+key, fmt.Sprintf("unknown step %q (one of %s, or verify-...)", key, strings.Join(keys(performerKeys), ", ")))
		}
	}
	for i, line := range r.Basis {
		if art := runbooks.ArticleWithoutRegulation(line); art != "" {
			report(fmt.Sprintf("basis[%d]", i), fmt.Sprintf("cites %s without naming its regulation (e.g. \"Peraturan ... Nomor ... Tahun ..., Pasal 28\")", art))
		}
	}
}
