package dbdump

import (
	"fmt"
	"sort"
	"strings"
)

// Options reads a restore's kind-specific options (targets.RestoreRequest.Options): each
// key must be one of known; Bool and String read them. Errors name the option.
type Options struct {
	m map[string]string
}

// ParseOptions checks that every key of m is one of known.
func ParseOptions(kind string, m map[string]string, known ...string) (Options, error) {
	var unknown []string
	for k := range m {
		if !contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		if len(known) == 0 {
			return Options{}, fmt.Errorf("%s restores take no options (got %s)", kind, strings.Join(unknown, ", "))
		}
		return Options{}, fmt.Errorf("%s restore has no option %s (it has: %s)", kind, strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return Options{m: m}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Bool reads a yes/no option: absent is false; "", true, yes, 1 are true.
func (o Options) Bool(key string) (bool, error) {
	v, ok := o.m[key]
	if !ok {
		return false, nil
	}
	switch strings.ToLower(v) {
	case "", "true", "yes", "1":
		return true, nil
	case "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("restore option %s: %q is not true or false", key, v)
}

// String reads an option's value ("" when absent).
func (o Options) String(key string) string { return o.m[key] }
