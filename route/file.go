package route

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// File is a config file as written: its top-level options and its routes,
// in file order. It is a plain value; Compile checks the routes.
type File struct {
	// Path is the file's name as given, for messages.
	Path string
	// Options are the top-level keys other than routes.
	Options []Option
	// Routes are the entries of the routes list.
	Routes []Spec
}

// Option is one top-level key of the file: an option, named as its flag
// without the dashes.
type Option struct {
	Name string
	// Values holds one value for a scalar, one per item for a list.
	Values []string
	// List says the value was written as a YAML sequence.
	List bool
	// Line is the key's line in the file.
	Line int
}

// Spec is one route as written in the file.
type Spec struct {
	Name            string            `yaml:"name"`
	Match           MatchSpec         `yaml:"match"`
	Upstream        string            `yaml:"upstream"`
	AllowHosts      []string          `yaml:"allow-hosts"`
	Service         string            `yaml:"service"`
	Region          string            `yaml:"region"`
	SignHost        string            `yaml:"sign-host"`
	ConnectTo       []string          `yaml:"connect-to"`
	Payload         string            `yaml:"payload"`
	ContentSHA256   string            `yaml:"content-sha256"`
	PreserveAuth    string            `yaml:"preserve-authorization-as"`
	UnsignedHeaders []string          `yaml:"unsigned-headers"`
	StripHeaders    []string          `yaml:"strip-headers"`
	AddHeaders      map[string]string `yaml:"add-headers"`
	// Credentials nil: the top-level credential options.
	Credentials *CredentialsSpec `yaml:"credentials"`

	// Line is where the route starts; lines holds each field's line.
	Line  int            `yaml:"-"`
	lines map[string]int `yaml:"-"`
}

// MatchSpec is a route's match block as written.
type MatchSpec struct {
	Hosts   []string `yaml:"hosts"`
	Path    string   `yaml:"path"`
	Clients []string `yaml:"clients"`
}

// CredentialsSpec is a route's credentials block as written. Empty, it is
// the AWS default chain.
type CredentialsSpec struct {
	Profile         string `yaml:"profile"`
	CredentialsFile string `yaml:"credentials-file"`
	RoleARN         string `yaml:"role-arn"`
	ExternalID      string `yaml:"external-id"`
	SessionName     string `yaml:"session-name"`
	Duration        string `yaml:"duration"`
}

// Error is a config file the proxy refuses. Its message names the file,
// the line, the route and the field when it knows them:
//
//	gateway.yaml:14: route "team-a": payload: "fast": must be auto, signed, unsigned or chunked
type Error struct {
	File string
	// Line is 1-based; 0 when unknown.
	Line int
	// Route is the route's name, or "#N" for an unnamed one; "" for an
	// error outside the routes.
	Route string
	// Field is the key at fault ("match.path", "credentials.role-arn",
	// or a top-level option's name); "" for the route or file itself.
	Field   string
	Problem string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Route != "" {
		fmt.Fprintf(&b, "route %s: ", e.Route)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// routesKey is the top-level key of the route list; every other top-level
// key is an option.
const routesKey = "routes"

// Parse reads data, the contents of the config file path, strictly: a key
// that is neither an option (known reports which names are) nor a route
// field is an error naming it, and so is a value of the wrong shape. It
// does not check values; Compile checks the routes, and the options are the
// caller's.
func Parse(path string, data []byte, known func(option string) bool) (*File, error) {
	f := &File{Path: path}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return f, nil // an empty file: no options, no routes
		}
		return nil, f.yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, f.yamlError(err)
		}
		return nil, &Error{File: path, Line: extra.Line, Problem: "holds a second YAML document (---); write one"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return f, nil // only comments
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: path, Line: root.Line, Problem: "want a mapping of options and a routes list at the top"}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		if first, dup := seen[key.Value]; dup {
			return nil, &Error{File: path, Line: key.Line, Field: key.Value, Problem: fmt.Sprintf("set twice (first at line %d)", first)}
		}
		seen[key.Value] = key.Line
		switch {
		case key.Value == routesKey:
			if err := f.parseRoutes(value); err != nil {
				return nil, err
			}
		case key.Value == "config":
			return nil, &Error{File: path, Line: key.Line, Field: key.Value, Problem: "a config file cannot name another"}
		case known == nil || !known(key.Value):
			return nil, &Error{File: path, Line: key.Line, Field: key.Value, Problem: "unknown option (write options as their flags without --; see sigv4-sidecar serve --help)"}
		default:
			opt, err := f.parseOption(key, value)
			if err != nil {
				return nil, err
			}
			f.Options = append(f.Options, opt)
		}
	}
	return f, nil
}

func (f *File) parseOption(key, value *yaml.Node) (Option, error) {
	opt := Option{Name: key.Value, Line: key.Line}
	switch value.Kind {
	case yaml.ScalarNode:
		opt.Values = []string{value.Value}
	case yaml.SequenceNode:
		opt.List = true
		for _, item := range value.Content {
			if item.Kind != yaml.ScalarNode {
				return opt, &Error{File: f.Path, Line: item.Line, Field: key.Value, Problem: "a list of this option holds plain values only"}
			}
			opt.Values = append(opt.Values, item.Value)
		}
	default:
		return opt, &Error{File: f.Path, Line: value.Line, Field: key.Value, Problem: "want a value or a list of values"}
	}
	return opt, nil
}

func (f *File) parseRoutes(list *yaml.Node) error {
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		return &Error{File: f.Path, Line: list.Line, Field: routesKey, Problem: "want a list of routes"}
	}
	for i, item := range list.Content {
		label := fmt.Sprintf("#%d", i+1)
		if item.Kind != yaml.MappingNode {
			return &Error{File: f.Path, Line: item.Line, Route: label, Problem: "want a mapping (name, match, upstream, ...)"}
		}
		if name := mappingValue(item, "name"); name != nil && name.Kind == yaml.ScalarNode && name.Value != "" {
			label = fmt.Sprintf("%q", name.Value)
		}
		lines := map[string]int{}
		if err := f.checkKeys(item, reflect.TypeFor[Spec](), label, "", lines); err != nil {
			return err
		}
		var s Spec
		if err := item.Decode(&s); err != nil {
			return f.decodeError(err, label)
		}
		s.Line, s.lines = item.Line, lines
		f.Routes = append(f.Routes, s)
	}
	return nil
}

// checkKeys refuses a key of the mapping m that t (a struct with yaml tags)
// has no field for, naming it and the keys there are; it descends into the
// struct fields and records every key's line in lines.
func (f *File) checkKeys(m *yaml.Node, t reflect.Type, label, prefix string, lines map[string]int) error {
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		ft := t.Field(i).Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		fields[tag] = ft
		names = append(names, tag)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, value := m.Content[i], m.Content[i+1]
		ft, ok := fields[key.Value]
		if !ok {
			where := "a route"
			if prefix != "" {
				where = strings.TrimSuffix(prefix, ".")
			}
			return &Error{File: f.Path, Line: key.Line, Route: label, Field: prefix + key.Value,
				Problem: fmt.Sprintf("unknown field (%s has: %s)", where, strings.Join(names, ", "))}
		}
		lines[prefix+key.Value] = key.Line
		if ft.Kind() == reflect.Struct && value.Kind == yaml.MappingNode {
			if err := f.checkKeys(value, ft, label, prefix+key.Value+".", lines); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeError turns yaml's type errors ("line 7: cannot unmarshal !!str
// `x` into []string") into an Error for the route.
func (f *File) decodeError(err error, label string) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		line := 0
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if n, after, ok := strings.Cut(rest, ": "); ok {
				fmt.Sscanf(n, "%d", &line)
				msg = after
			}
		}
		if strings.Contains(msg, "cannot unmarshal") {
			msg = strings.Replace(msg, "into []string", "into a list", 1)
			msg = strings.Replace(msg, "into map[string]string", "into a mapping of header names to values", 1)
			msg = "wrong kind of value: " + msg
		}
		return &Error{File: f.Path, Line: line, Route: label, Problem: msg}
	}
	return &Error{File: f.Path, Route: label, Problem: err.Error()}
}

// yamlError is a YAML syntax error. Its line is yaml's, which points at
// the construct being parsed (a list, a mapping) rather than at the broken
// line, so it is given as "near".
func (f *File) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			msg = after + " (near line " + n + ")"
		}
	}
	return &Error{File: f.Path, Problem: "not valid YAML: " + msg}
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// parseDuration reads a credentials duration ("1h", "90m", "3600s").
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration: write it like 15m, 1h or 12h")
	}
	return d, nil
}
