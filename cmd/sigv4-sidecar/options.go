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
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
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
func loadConfig(name string, args, environ []string, stdout io.Writer) (sidecar.Config, error) {
	var cfg sidecar.Config
	envMap := environMap(environ)
	if err := env.ParseWithOptions(&cfg, env.Options{Prefix: sidecar.EnvPrefix, Environment: envMap}); err != nil {
		return cfg, envError(err, envMap)
	}
	opts := optionsOf(&cfg)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var setErr error
	for _, o := range opts {
		fs.Var(&fieldFlag{o: o, failed: &setErr}, o.flag, o.help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printOptions(stdout, name, opts)
			return cfg, flag.ErrHelp
		}
		if setErr != nil {
			return cfg, setErr
		}
		if strings.HasPrefix(err.Error(), "flag provided but not defined: ") {
			// The flag package names it with one dash whatever the user typed;
			// every option is documented with two.
			unknown := strings.TrimLeft(strings.TrimPrefix(err.Error(), "flag provided but not defined: "), "-")
			return cfg, fmt.Errorf("unknown option --%s (see sigv4-sidecar %s --help)", unknown, name)
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q: %s takes options only (see --help)", fs.Arg(0), name)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
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
func envError(err error, envMap map[string]string) error {
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe env.ParseError
	if errors.As(err, &pe) {
		flagName := sidecar.FlagName(pe.Name)
		for _, o := range optionsOf(&sidecar.Config{}) {
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
// options are loadConfig's): its parse errors and its --help (a usage line,
// a sentence about the command, then every flag) go to the invocation's
// stderr. Not safe for concurrent use.
type commandFlags struct {
	*flag.FlagSet
	credsFailed *error // a bad credential option or SIGV4_ variable; nil without credentialOptions
}

// flags returns the flag set of subcommand name.
func (inv invocation) flags(name, usage, about string) *commandFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(inv.stderr)
	fs.Usage = func() {
		fmt.Fprintln(inv.stderr, usage)
		fmt.Fprintln(inv.stderr, about)
		fs.PrintDefaults()
	}
	return &commandFlags{FlagSet: fs}
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
	}
	f.credsFailed = failed
	return cfg
}

// parse parses args for a subcommand that takes options only. As for
// loadConfig, --help returns flag.ErrHelp (the help text is the command's
// whole output); any other problem is an exit-2 error naming it.
func (f *commandFlags) parse(args []string) error {
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
		return flag.ErrHelp
	}
	return &exitError{code: 2, msg: err.Error()}
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
// start, and returns the first credentials.
func loadCredentials(ctx context.Context, cfg creds.Config) (creds.Credentials, error) {
	src, err := creds.Load(ctx, cfg, nil)
	if err != nil {
		return creds.Credentials{}, err
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	return src.Retrieve(ctx)
}
