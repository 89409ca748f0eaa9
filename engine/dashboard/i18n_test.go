package dashboard

import (
	"io/fs"
	"regexp"
	"testing"
)

// Every text a template asks for exists in both languages.
func TestEveryWordTranslated(t *testing.T) {
	re := regexp.MustCompile(`\.T "([^"]+)"`)
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(assets, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			w, ok := words[m[1]]
			if !ok || w[0] == "" || w[1] == "" {
				t.Errorf("%s: %q has no text in both languages", f, m[1])
			}
		}
	}
	for key, w := range words {
		if w[0] == "" || w[1] == "" {
			t.Errorf("%q lacks a language", key)
		}
	}
}
