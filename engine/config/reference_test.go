package config

import (
	"encoding"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cadang/cadang/targets"
)

// The configuration reference (docs/configuration.md, section "Every key") is one
// annotated YAML example holding every key. This test reads its keys and the config
// structs' keys (every kind's section included) and fails on an undocumented key and
// on a documented key that does not exist.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	code, leaves := structKeys()
	doc := docKeys(t, "../../docs/configuration.md")
	for _, k := range sortedKeys(code) {
		if !doc[k] && !doc[aliased(k)] {
			t.Errorf("key %s is not in docs/configuration.md (section \"Every key\")", k)
		}
	}
	for _, k := range sortedKeys(doc) {
		if code[k] || underLeaf(k, leaves) {
			continue
		}
		t.Errorf("docs/configuration.md documents %s, which is no key of cadang.yaml", k)
	}
	if t.Failed() {
		t.Logf("the keys of cadang.yaml:\n%s", strings.Join(sortedKeys(code), "\n"))
	}
}

// aliases are sections with the keys of another, documented once: a target's drill:
// takes the top-level drill's keys.
var aliases = map[string]string{"targets[].drill.": "drill.", "runbooks[].undo[].": "runbooks[].groups[].steps[]."}

func aliased(k string) string {
	for from, to := range aliases {
		if strings.HasPrefix(k, from) {
			return to + strings.TrimPrefix(k, from)
		}
	}
	return k
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// underLeaf reports whether k is inside a value the structs take whole (a map of
// free names, a hook's form).
func underLeaf(k string, leaves map[string]bool) bool {
	for l := range leaves {
		if strings.HasPrefix(k, l+".") || strings.HasPrefix(k, l+"[]") {
			return true
		}
	}
	return false
}

var (
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	yamlUnmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	timeType        = reflect.TypeOf(time.Time{})
)

// structKeys returns every key path of cadang.yaml ("drcs[].s3.endpoint"), and the paths
// whose values are taken whole.
func structKeys() (keys, leaves map[string]bool) {
	keys, leaves = map[string]bool{}, map[string]bool{}
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Slice {
			walk(t.Elem(), path+"[]")
			return
		}
		if path != "" {
			keys[strings.TrimSuffix(path, "[]")] = true
		}
		custom := reflect.PointerTo(t).Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(yamlUnmarshaler)
		if t.Kind() == reflect.Map || custom || (t.Kind() == reflect.Struct && t == timeType) {
			leaves[strings.TrimSuffix(path, "[]")] = true
			return
		}
		if t.Kind() != reflect.Struct {
			return
		}
		fields, _ := structFields(t)
		for name, fi := range fields {
			walk(t.FieldByIndex(fi.index).Type, join(path, name))
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	for _, name := range targets.Kinds() {
		k, _ := targets.Lookup(name)
		walk(reflect.TypeOf(k.NewConfig()), "targets[]."+name)
	}
	return keys, leaves
}

var everyKey = regexp.MustCompile("(?s)## Every key.*?```yaml\n(.*?)```")

// docKeys returns the key paths of the reference's YAML example.
func docKeys(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := everyKey.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no section \"Every key\" with a yaml block", file)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(m[1], &root); err != nil {
		t.Fatalf("%s: the example is not YAML: %v", file, err)
	}
	keys := map[string]bool{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := join(path, n.Content[i].Value)
				keys[k] = true
				walk(n.Content[i+1], k)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path+"[]")
			}
		}
	}
	walk(&root, "")
	return keys
}
