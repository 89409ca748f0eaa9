package msg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cadang/cadang/internal/oneline"
)

// Languages.
const (
	ID = "id" // Bahasa Indonesia, the reports' default
	EN = "en"
)

// Message is a text of a report in no language yet: a catalog key and its arguments,
// or a plain text shown as it is (a name, a path, a tool's own output, a kind's text
// not yet in the catalog).
type Message struct {
	Key  string         `json:"key,omitempty"`
	Args map[string]any `json:"args,omitempty"`
	// Text is the plain text of a message without a key; for a keyed message in a
	// report's JSON, its rendering in the report's language.
	Text string `json:"text,omitempty"`
}

// New returns the message key with its arguments given as name, value pairs. Values
// are numbers, strings, booleans or time.Durations (stored as seconds).
func New(key string, nameValues ...any) Message {
	m := Message{Key: key}
	for i := 0; i+1 < len(nameValues); i += 2 {
		name, _ := nameValues[i].(string)
		if m.Args == nil {
			m.Args = map[string]any{}
		}
		v := nameValues[i+1]
		switch x := v.(type) {
		case time.Duration:
			v = x.Seconds()
		case string:
			v = oneline.Of(x)
		case error:
			v = Of(x)
		}
		m.Args[name] = v
	}
	return m
}

// Plain returns a message that is the text s in every language.
func Plain(s string) Message { return Message{Text: oneline.Of(s)} }

// Bilingual returns a message given in both languages by the caller (a kind whose
// texts are not in the catalog yet).
func Bilingual(en, id string) Message {
	if id == "" {
		return Plain(en)
	}
	return New("bilingual", "en", en, "id", id)
}

// IsZero reports whether m says nothing.
func (m Message) IsZero() bool { return m.Key == "" && m.Text == "" }

// String is m in English (logs, errors, the runs list).
func (m Message) String() string { return m.In(EN) }

// In renders m in language lang (Indonesian when lang is unknown).
func (m Message) In(lang string) string {
	if m.Key == "" {
		return m.Text
	}
	e, ok := catalog[m.Key]
	if !ok {
		if m.Text != "" {
			return m.Text
		}
		return m.Key + fmt.Sprint(sortedArgs(m.Args))
	}
	tmpl := e.id
	if lang == EN {
		tmpl = e.en
	}
	return expand(tmpl, lang, m.Args)
}

// UnmarshalJSON reads a message, or a plain JSON string (what reports stored before
// messages had keys).
func (m *Message) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*m = Message{Text: s}
		return nil
	}
	type plain Message
	var p plain
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&p); err != nil {
		return err
	}
	*m = Message(p)
	return nil
}

// Error is an error whose text in a report is a message; its Error() is the
// English.
type Error struct{ Msg Message }

func (e *Error) Error() string { return e.Msg.String() }

// Fail returns an error that says key with its arguments.
func Fail(key string, nameValues ...any) error { return &Error{Msg: New(key, nameValues...)} }

// Of returns what err says as a message: the message of the *Error it is or wraps,
// else its text.
func Of(err error) Message {
	if err == nil {
		return Message{}
	}
	// A message wrapped with more (English) context is said as it was written, so
	// that the context is not lost.
	var e *Error
	if errors.As(err, &e) && e.Error() == err.Error() {
		return e.Msg
	}
	return Plain(err.Error())
}

// Known reports whether key is in the catalog.
func Known(key string) bool { _, ok := catalog[key]; return ok }

// Keys returns every key of the catalog, sorted.
func Keys() []string {
	out := make([]string, 0, len(catalog))
	for k := range catalog {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Template returns the catalog's text of key in lang, placeholders unexpanded.
func Template(key, lang string) string {
	if lang == EN {
		return catalog[key].en
	}
	return catalog[key].id
}

// expand replaces the placeholders of tmpl: {name} the argument, {name:bytes} a size
// in IEC units, {name:dur} a duration (the argument in seconds), and, in English,
// {name|one|other} the word for the count name.
func expand(tmpl, lang string, args map[string]any) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		b.WriteString(placeholder(tmpl[i+1:i+j], lang, args))
		tmpl = tmpl[i+j+1:]
	}
}

func placeholder(p, lang string, args map[string]any) string {
	if name, forms, ok := strings.Cut(p, "|"); ok {
		one, other, _ := strings.Cut(forms, "|")
		if n, ok := number(args[name]); ok && n == 1 {
			return one
		}
		return other
	}
	name, format, _ := strings.Cut(p, ":")
	v, ok := args[name]
	if !ok {
		return "{" + p + "}"
	}
	if m, ok := nested(v); ok {
		return m.In(lang)
	}
	n, isNum := number(v)
	switch {
	case format == "bytes" && isNum:
		return Bytes(uint64(max(n, 0)), lang)
	case format == "dur" && isNum:
		return Duration(time.Duration(n*float64(time.Second)), lang)
	case isNum:
		return Number(n, lang)
	}
	return fmt.Sprint(v)
}

// nested reads an argument that is a message itself, as given or as JSON decoded it.
func nested(v any) (Message, bool) {
	switch x := v.(type) {
	case Message:
		return x, true
	case map[string]any:
		b, err := json.Marshal(x)
		var m Message
		if err != nil || json.Unmarshal(b, &m) != nil {
			return Message{}, false
		}
		return m, true
	}
	return Message{}, false
}

// number reads a numeric argument as it was given or as JSON decoded it.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// Number writes n: whole numbers as they are, others with one decimal, with the
// language's decimal separator (a comma in Indonesian).
func Number(n float64, lang string) string {
	if n == math.Trunc(n) && math.Abs(n) < 1e15 {
		return strconv.FormatInt(int64(n), 10)
	}
	return decimal(n, lang)
}

func decimal(n float64, lang string) string {
	s := strconv.FormatFloat(n, 'f', 1, 64)
	if lang != EN {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// Bytes writes a size in IEC units ("20,0 MiB" in Indonesian, "20.0 MiB" in English).
func Bytes(n uint64, lang string) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return decimal(float64(n)/float64(div), lang) + " " + string("KMGTPE"[exp]) + "iB"
}

// Duration writes "2 jam 5 menit" / "2h 5m"; seconds only under an hour.
func Duration(d time.Duration, lang string) string {
	units, sep := [3]string{"jam", "menit", "detik"}, " "
	if lang == EN {
		units, sep = [3]string{"h", "m", "s"}, ""
	}
	if d <= 0 {
		return "0" + sep + units[2]
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	var parts []string
	add := func(n int, unit string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d%s%s", n, sep, unit))
		}
	}
	add(h, units[0])
	add(m, units[1])
	if h == 0 {
		add(s, units[2])
	}
	if len(parts) == 0 {
		return "0" + sep + units[2]
	}
	return strings.Join(parts, " ")
}

func sortedArgs(args map[string]any) []string {
	var out []string
	for k, v := range args {
		out = append(out, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(out)
	return out
}
