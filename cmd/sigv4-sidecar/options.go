package main

import (
	"context"
	"encoding"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/route"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// option is one field of a config struct exposed as a flag and an
// environment variable, read from its tags.
type option struct {
	flag      string // without dashes
	env       string // with EnvPrefix
	def       string // envDefault
	help      string
	fieldName string
	value     reflect.Value // addressable field
}

// optionsOf walks the struct v points to (nested structs included) and
// returns every field with a flag tag, in declaration order.
func optionsOf(v any) []option {
	var out []option
	var walk func(reflect.Value)
	walk = func(s reflect.Value) {
		t := s.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			fv := s.Field(i)
			if name := f.Tag.Get("flag"); name != "" {
				out = append(out, option{
					flag: name, env: sidecar.EnvPrefix + f.Tag.Get("env"),
					def: f.Tag.Get("envDefault"), help: f.Tag.Get("help"),
					fieldName: f.Name, value: fv,
				})
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.IsExported() {
				walk(fv)
			}
		}
	}
	walk(reflect.ValueOf(v).Elem())
	return out
}

// loadConfig builds a sidecar.Config from its defaults, then the SIGV4_
// variables in environ, then the flags in args (a flag wins over its
// variable), and validates it. --help writes the option list to stdout and
// returns flag.ErrHelp. Positional arguments are refused.
//
// A config file (--config, SIGV4_CONFIG) lies between the defaults and the
// variables: each of its options counts as its variable where that is not
// set. Its routes are checked here, against the options as they end up.
func loadConfig(name string, args, environ []string, stdout io.Writer) (sidecar.Config, error) {
	cfg, _, _, err := loadOptions(name, args, environ, stdout, false)
	return cfg, err
}

// loadOptions is loadConfig, returning also the routes of the config file
// (route.Default without one) and, when takesArgs, the positional
// arguments, which may stand before, between and after the options.
func loadOptions(name string, args, environ []string, stdout io.Writer, takesArgs bool) (sidecar.Config, *route.Set, []string, error) {
	var cfg sidecar.Config
	envMap := environMap(environ)
	var file *route.File
	var fromFile map[string]route.Option
	if path := configFilePath(name, args, envMap); path != "" {
		var err error
		if file, fromFile, err = fileOptions(path, envMap); err != nil {
			return cfg, nil, nil, err
		}
	}
	if err := env.ParseWithOptions(&cfg, env.Options{Prefix: sidecar.EnvPrefix, Environment: envMap}); err != nil {
		return cfg, nil, nil, envError(err, envMap, file, fromFile)
	}
	fs, opts, setErr := serveFlags(name, &cfg)
	positional, err := parseAll(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printOptions(stdout, name, opts)
			return cfg, nil, nil, flag.ErrHelp
		}
		if *setErr != nil {
			return cfg, nil, nil, *setErr
		}
		return cfg, nil, nil, flagError(err, fs)
	}
	if len(positional) > 0 && !takesArgs {
		return cfg, nil, nil, fmt.Errorf("unexpected argument %q: %s takes options only (see --help)", positional[0], name)
	}
	if err := cfg.Validate(); err != nil {
		flagsSet := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { flagsSet[f.Name] = true })
		if file != nil {
			return cfg, nil, nil, fromFileError(err, file.Path, fromFile, flagsSet)
		}
		return cfg, nil, nil, err
	}
	if file == nil {
		return cfg, route.Default(""), positional, nil
	}
	set, err := route.Compile(file, cfg.CheckRoute)
	if err != nil {
		return cfg, nil, nil, err
	}
	return cfg, set, positional, nil
}

// parseAll parses args with fs, options and arguments in any order, and
// returns the arguments.
func parseAll(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// serveFlags is serve's flag set: one flag per option of cfg, writing
// into it. A value the option refuses is left in the returned error.
func serveFlags(name string, cfg *sidecar.Config) (*flag.FlagSet, []option, *error) {
	opts := optionsOf(cfg)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	setErr := new(error)
	for _, o := range opts {
		fs.Var(&fieldFlag{o: o, failed: setErr}, o.flag, o.help)
	}
	return fs, opts, setErr
}

// flagError rewrites a parse error of the flag package, which names every
// option with one dash whatever the user typed, in the two-dash style the
// options are documented with, and suggests the nearest option for an
// unknown one.
func flagError(err error, fs *flag.FlagSet) error {
	msg := err.Error()
	see := fmt.Sprintf(" (see sigv4-sidecar %s --help)", fs.Name())
	if unknown, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		unknown = strings.TrimLeft(unknown, "-")
		if near := nearestFlag(unknown, fs); near != "" {
			return fmt.Errorf("unknown option %s: did you mean %s?%s", dashed(unknown), dashed(near), see)
		}
		return fmt.Errorf("unknown option %s%s", dashed(unknown), see)
	}
	// "flag needs an argument: -name", "invalid value "v" for flag -name: ...",
	// "invalid boolean value "v" for -name: ...".
	msg = flagInMessage.ReplaceAllStringFunc(msg, func(m string) string {
		lead, name, _ := strings.Cut(m, "-")
		return strings.Replace(lead, "for flag ", "for ", 1) + dashed(name)
	})
	return fmt.Errorf("%s%s", msg, see)
}

var flagInMessage = regexp.MustCompile(`(^flag needs an argument: | for flag | for )-[A-Za-z][\w-]*`)

// dashed writes a flag as it is typed: -X for a one-letter flag (curl's
// style, as explain's -X, -H and -d), --name otherwise.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// nearestFlag returns fs's flag closest to name by edit distance, or ""
// when none is close enough to be a typo of it.
func nearestFlag(name string, fs *flag.FlagSet) string {
	best, bestDist := "", max(2, len(name)/4)+1
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestDist && len(f.Name) > 1 {
			best, bestDist = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// defaultConfig is the config serve runs with when given no flags and no
// SIGV4_ variables, not yet validated: callers set their own options first.
func defaultConfig() (sidecar.Config, error) {
	var cfg sidecar.Config
	err := env.ParseWithOptions(&cfg, env.Options{Prefix: sidecar.EnvPrefix, Environment: map[string]string{}})
	return cfg, err
}

// envError turns the env parser's error into one line naming the variable,
// its value, its flag and the problem.
// A variable the config file set (file, fromFile: see fileOptions) is
// named as the file's option, at its line.
func envError(err error, envMap map[string]string, file *route.File, fromFile map[string]route.Option) error {
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe env.ParseError
	if errors.As(err, &pe) {
		flagName := sidecar.FlagName(pe.Name)
		for _, o := range optionsOf(&sidecar.Config{}) {
			if fo, ok := fromFile[o.env]; ok && o.fieldName == pe.Name {
				return &route.Error{File: file.Path, Line: fo.Line, Field: fo.Name, Problem: fmt.Sprintf("%q: %s", envMap[o.env], problem(pe.Err))}
			}
			if o.fieldName == pe.Name {
				return fmt.Errorf("invalid %s %q (--%s): %s", o.env, envMap[o.env], flagName, problem(pe.Err))
			}
		}
	}
	return fmt.Errorf("reading SIGV4_ variables: %w", err)
}

func problem(err error) string {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return "not a number"
	}
	if strings.Contains(err.Error(), "time: ") {
		return "not a duration: write it like 30s, 5m or 1h30m"
	}
	return err.Error()
}

// fieldFlag is a flag.Value writing straight into a config field. A list
// field is replaced by the first use of its flag (the flag wins over the
// variable), then appended to: --connect-to a --connect-to b, or a,b.
type fieldFlag struct {
	o      option
	failed *error
	used   bool
}

func (f *fieldFlag) String() string {
	if f == nil || !f.o.value.IsValid() {
		return ""
	}
	return formatValue(f.o.value)
}

func (f *fieldFlag) IsBoolFlag() bool {
	return f.o.value.IsValid() && f.o.value.Kind() == reflect.Bool
}

func (f *fieldFlag) Set(s string) error {
	err := setValue(f.o.value, s, !f.used)
	f.used = true
	if err != nil {
		*f.failed = &sidecar.OptionError{Flag: f.o.flag, Value: s, Problem: problem(err)}
		return *f.failed
	}
	return nil
}

func setValue(v reflect.Value, s string, reset bool) error {
	if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return tu.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		if v.Type() == reflect.TypeFor[time.Duration]() {
			d, err := time.ParseDuration(s)
			if err != nil {
				return err
			}
			v.SetInt(int64(d))
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %s", v.Type())
		}
		if reset {
			v.Set(reflect.MakeSlice(v.Type(), 0, 1))
		}
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				v.Set(reflect.Append(v, reflect.ValueOf(part)))
			}
		}
	default:
		return fmt.Errorf("unsupported option type %s", v.Type())
	}
	return nil
}

func formatValue(v reflect.Value) string {
	if m, ok := v.Interface().(fmt.Stringer); ok {
		return m.String()
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// printOptions writes the --help text: every option with its flag, its
// variable and its default.
func printOptions(w io.Writer, name string, opts []option) {
	fmt.Fprintf(w, "Usage: sigv4-sidecar %s [options]\n\n", name)
	fmt.Fprintf(w, "Every option is a flag and an environment variable; a flag wins over its variable.\n\n")
	for _, o := range opts {
		fmt.Fprintf(w, "  --%s %s\n", o.flag, valueHint(o))
		fmt.Fprintf(w, "      env %s", o.env)
		if o.def != "" {
			fmt.Fprintf(w, ", default %s", o.def)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "      %s\n", o.help)
	}
}

func valueHint(o option) string {
	switch {
	case o.value.Type() == reflect.TypeFor[time.Duration]():
		return "DURATION"
	case o.value.Type() == reflect.TypeFor[sidecar.ByteSize]():
		return "SIZE"
	case o.value.Kind() == reflect.Slice:
		return "LIST"
	case o.value.Kind() == reflect.Int:
		return "N"
	case o.value.Kind() == reflect.Bool:
		return ""
	}
	return "VALUE"
}

// environMap turns KEY=value pairs into a map, as the env parser takes them.
func environMap(environ []string) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// commandFlags is the flag set of a subcommand other than serve (whose
// options are loadConfig's): its --help (a usage line, a sentence about
// the command, then every flag) goes to the invocation's stderr, its parse
// errors are returned as one line (flagError). Not safe for concurrent use.
type commandFlags struct {
	*flag.FlagSet
	credsFailed *error   // a bad credential option or SIGV4_ variable; nil without credentialOptions
	credFlags   []string // the credential options' flags (credentialOptions)
	help        func()
	listFlags   func(*flag.FlagSet)
}

// flags returns the flag set of subcommand name.
func (inv invocation) flags(name, usage, about string) *commandFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Errors are returned (see flagError), not printed with the usage.
	fs.SetOutput(io.Discard)
	f := &commandFlags{FlagSet: fs, listFlags: inv.listFlags}
	f.help = func() {
		fmt.Fprintln(inv.stderr, usage)
		fmt.Fprintln(inv.stderr, about)
		f.printFlags(inv.stderr)
	}
	return f
}

// printFlags lists every flag as it is typed (--name, or -X), its value
// and its help, like flag.PrintDefaults but in the options' style.
func (f *commandFlags) printFlags(w io.Writer) {
	f.VisitAll(func(fl *flag.Flag) {
		value, help := flag.UnquoteUsage(fl)
		if value == "value" {
			value = "VALUE"
		}
		line := "  " + dashed(fl.Name)
		if value != "" {
			line += " " + value
		}
		fmt.Fprintln(w, line)
		switch fl.DefValue {
		case "", "0", "false", "0s", "[]":
		default:
			help += fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		fmt.Fprintf(w, "      %s\n", help)
	})
}

// credentialOptions registers the credential options (--profile,
// --role-arn, ...) with their SIGV4_ variables from environ as defaults,
// exactly as serve reads them, and returns the config they fill when the
// flags are parsed. A bad value is reported by parse.
func (f *commandFlags) credentialOptions(environ []string) *creds.Config {
	cfg := &creds.Config{}
	failed := new(error)
	if err := env.ParseWithOptions(cfg, env.Options{Prefix: sidecar.EnvPrefix, Environment: environMap(environ)}); err != nil {
		*failed = fmt.Errorf("reading SIGV4_ variables: %w", err)
	}
	for _, o := range optionsOf(cfg) {
		f.Var(&fieldFlag{o: o, failed: failed}, o.flag, o.help+" (env "+o.env+")")
		f.credFlags = append(f.credFlags, o.flag)
	}
	f.credsFailed = failed
	return cfg
}

// parse parses args for a subcommand that takes options only. As for
// loadConfig, --help returns flag.ErrHelp (the help text is the command's
// whole output); any other problem is an exit-2 error naming it.
func (f *commandFlags) parse(args []string) error {
	if f.listFlags != nil {
		f.listFlags(f.FlagSet)
		return flag.ErrHelp
	}
	if err := f.Parse(args); err != nil {
		return f.usageError(err)
	}
	if f.NArg() > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("unexpected argument %q: %s takes options only (see --help)", f.Arg(0), f.Name())}
	}
	return f.credentialsError()
}

// parseInterspersed is parse for a subcommand that takes arguments: flags
// may stand before and after them (`explain URL -H ...` as well as
// `explain -H ... URL`). It returns the arguments; how many are wanted is
// the caller's to check.
func (f *commandFlags) parseInterspersed(args []string) ([]string, error) {
	if f.listFlags != nil {
		f.listFlags(f.FlagSet)
		return nil, flag.ErrHelp
	}
	var positional []string
	for {
		if err := f.Parse(args); err != nil {
			return nil, f.usageError(err)
		}
		args = f.Args()
		if len(args) == 0 {
			return positional, f.credentialsError()
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func (f *commandFlags) usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		f.help()
		return flag.ErrHelp
	}
	return &exitError{code: 2, msg: flagError(err, f.FlagSet).Error()}
}

func (f *commandFlags) credentialsError() error {
	if f.credsFailed != nil && *f.credsFailed != nil {
		return &exitError{code: 2, msg: (*f.credsFailed).Error()}
	}
	return nil
}

// signingKeys returns AWS's documented example keys when example is set,
// else the configured credentials (as loadCredentials), and says which.
func signingKeys(ctx context.Context, example bool, cfg creds.Config) (signer.Credentials, string, error) {
	if example {
		return signer.Credentials{AccessKeyID: exampleAccessKeyID, SecretAccessKey: exampleSecretAccessKey}, "AWS documentation example keys", nil
	}
	c, err := loadCredentials(ctx, cfg)
	if err != nil {
		return signer.Credentials{}, "", fmt.Errorf("%w (or use --example-credentials)", err)
	}
	return sidecar.SigningKeys(c), c.Source, nil
}

// parseTargetURL parses the URL a subcommand signs for: http or https,
// with a host.
func parseTargetURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, &exitError{code: 2, msg: fmt.Sprintf("invalid URL %q: want http(s)://host/path", raw)}
	}
	return u, nil
}

// loadCredentials resolves the credential chain once, as serve does at
// start, and returns the first credentials. When nothing is configured
// the error is the fix alone, without the SDK's chain of IMDS errors.
func loadCredentials(ctx context.Context, cfg creds.Config) (creds.Credentials, error) {
	src, err := creds.Load(ctx, cfg, nil)
	if err != nil {
		return creds.Credentials{}, shortNoSource(err)
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	c, err := src.Retrieve(ctx)
	return c, shortNoSource(err)
}

func shortNoSource(err error) error {
	if none := (*creds.NoSourceError)(nil); errors.As(err, &none) {
		return none
	}
	return err
}
