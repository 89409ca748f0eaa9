package config

import (
	"fmt"
	"path/filepath"

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
	// Basis are the legal basis lines of the minutes (the regulations the SOP follows);
	// default: the report language's own.
	Basis []string `yaml:"basis"`
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
}
