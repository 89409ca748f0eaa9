package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder fills Go values from a yaml.Node tree strictly: an unknown key, a wrong type
// or a duplicate key is a problem recorded with its position, and decoding goes on so
// that one pass reports every problem. It also remembers the position of every path it
// decoded, so that semantic checks made later can point at the right line.
//
// Supported Go types: structs (keys from `yaml:"name"` tags; `yaml:"-"` skipped; a
// field tagged `yaml:",rest"` of type map[string]*yaml.Node collects the keys no other
// field takes), pointers, slices, maps with string keys, strings, bools, integers,
// floats, time.Duration (Go syntax plus "d" for days), encoding.TextUnmarshaler,
// yaml.Unmarshaler, *yaml.Node and any.
type decoder struct {
	problems *Problems
	pos      map[string]yaml.Node // path -> node (for Line/Column)
	unknown  map[string]bool      // sections with an unknown (misspelt) key
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	nodePtrType  = reflect.TypeOf((*yaml.Node)(nil))
	textUnmarsh  = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	yamlUnmarsh  = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.problems.add(n.Line, n.Column, path, fmt.Sprintf(format, args...))
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = resolve(n)
	if n == nil {
		return
	}
	d.pos[path] = *n
	t := v.Type()

	// Types that decode themselves.
	if t == nodePtrType {
		v.Set(reflect.ValueOf(n))
		return
	}
	if v.CanAddr() && reflect.PointerTo(t).Implements(yamlUnmarsh) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return
	}
	if isNull(n) {
		return // keep the zero value (or the default already set)
	}
	if t != durationType && v.CanAddr() && reflect.PointerTo(t).Implements(textUnmarsh) {
		if s, ok := d.scalar(n, path, "a string"); ok {
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
				d.errorf(n, path, "%v", err)
			}
		}
		return
	}

	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, path, v.Elem())
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.decodeScalar(n, path, v)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected %s, found %s", want, describeNode(n))
		return "", false
	}
	return n.Value, true
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func (d *decoder) decodeScalar(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	switch {
	case t == durationType:
		s, ok := d.scalar(n, path, "a duration such as 30s, 5m, 2h or 7d")
		if !ok {
			return
		}
		dur, err := ParseDuration(s)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		v.SetInt(int64(dur))
	case t.Kind() == reflect.String:
		s, ok := d.scalar(n, path, "a string")
		if ok {
			v.SetString(s)
		}
	case t.Kind() == reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		switch s {
		case "true", "True", "TRUE", "yes", "on":
			v.SetBool(true)
		case "false", "False", "FALSE", "no", "off":
			v.SetBool(false)
		default:
			d.errorf(n, path, "expected true or false, found %q", s)
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		s, ok := d.scalar(n, path, "a whole number")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, t.Bits())
		if err != nil {
			d.errorf(n, path, "expected a whole number, found %q", s)
			return
		}
		v.SetInt(i)
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		s, ok := d.scalar(n, path, "a whole number")
		if !ok {
			return
		}
		i, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 0, t.Bits())
		if err != nil {
			d.errorf(n, path, "expected a whole number of at least 0, found %q", s)
			return
		}
		v.SetUint(i)
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		s, ok := d.scalar(n, path, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || math.IsNaN(f) {
			d.errorf(n, path, "expected a number, found %q", s)
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "cannot decode into %s", t)
	}
}

type fieldInfo struct {
	index []int
	name  string
}

func structFields(t reflect.Type) (fields map[string]fieldInfo, rest []int) {
	fields = map[string]fieldInfo{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if opts == "rest" {
			rest = f.Index
			continue
		}
		if opts == "inline" {
			inner, _ := structFields(f.Type)
			for k, fi := range inner {
				fields[k] = fieldInfo{index: append([]int{i}, fi.index...), name: k}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = fieldInfo{index: f.Index, name: name}
	}
	return fields, rest
}

// mappingPairs returns a mapping's key/value pairs with `<<` merge keys expanded
// (explicit keys win over merged ones) and reports duplicate keys.
func (d *decoder) mappingPairs(n *yaml.Node, path string) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	seen := map[string]*yaml.Node{}
	var merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.Tag == "!!merge" {
			for _, m := range mergeSources(resolve(v)) {
				merged = append(merged, d.mappingPairs(m, path)...)
			}
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.errorf(k, join(path, k.Value), "duplicate key (first at line %d)", prev.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, [2]*yaml.Node{k, v})
	}
	for _, kv := range merged {
		if _, ok := seen[kv[0].Value]; !ok {
			seen[kv[0].Value] = kv[0]
			out = append(out, kv)
		}
	}
	return out
}

func mergeSources(v *yaml.Node) []*yaml.Node {
	if v == nil {
		return nil
	}
	if v.Kind == yaml.SequenceNode {
		var out []*yaml.Node
		for _, c := range v.Content {
			if c = resolve(c); c != nil && c.Kind == yaml.MappingNode {
				out = append(out, c)
			}
		}
		return out
	}
	if v.Kind == yaml.MappingNode {
		return []*yaml.Node{v}
	}
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, found %s", describeNode(n))
		return
	}
	fields, rest := structFields(v.Type())
	for _, kv := range d.mappingPairs(n, path) {
		k, val := kv[0], kv[1]
		fi, ok := fields[k.Value]
		if !ok && path == "" && strings.HasPrefix(k.Value, "x-") {
			continue // a top-level extension key: a place for YAML anchors
		}
		if !ok {
			if rest != nil {
				m := v.FieldByIndex(rest)
				if m.IsNil() {
					m.Set(reflect.MakeMap(m.Type()))
				}
				m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(val))
				d.pos[join(path, k.Value)] = *k
				continue
			}
			d.unknownKey(k, path, fields)
			continue
		}
		d.decode(val, join(path, fi.name), fieldByIndexAlloc(v, fi.index))
	}
}

func fieldByIndexAlloc(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

func (d *decoder) unknownKey(k *yaml.Node, path string, fields map[string]fieldInfo) {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	d.errorf(k, join(path, k.Value), "unknown key%s", Suggest(k.Value, names))
	if d.unknown != nil {
		d.unknown[path] = true
	}
}

// Suggest returns `; did you mean "x"?` for the closest of the known names to got (a
// key, a target, an agency), or "" when none is close.
func Suggest(got string, known []string) string {
	known = append([]string(nil), known...)
	sort.Strings(known)
	best, bestDist := "", 3
	for _, k := range known {
		if dist := levenshtein(got, k); dist < bestDist || (dist == bestDist && best == "" && dist <= len(k)/3) {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list, found %s", describeNode(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.decode(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, found %s", describeNode(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.errorf(n, path, "cannot decode into %s", v.Type())
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, kv := range d.mappingPairs(n, path) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(kv[1], join(path, kv[0].Value), elem)
		v.SetMapIndex(reflect.ValueOf(kv[0].Value).Convert(v.Type().Key()), elem)
	}
}

func join(path, key string) string {
	switch {
	case path == "":
		return key
	case key == "":
		return path
	}
	return path + "." + key
}

// ParseDuration parses Go durations ("90s", "1h30m") and whole days ("7d", "2d12h").
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(in, 'd'); i > 0 {
		n, err := strconv.Atoi(in[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q (use 30s, 5m, 2h, 7d)", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		in = in[i+1:]
		if in == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(in)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q (use 30s, 5m, 2h, 7d)", s)
	}
	return days + d, nil
}
