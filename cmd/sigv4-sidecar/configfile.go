package main

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/route"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
)

// configFileVar is --config's variable, read before the others: the file
// it names lies under them.
const configFileVar = sidecar.EnvPrefix + "CONFIG"

// configFilePath returns the config file args or environ name: --config
// wins over SIGV4_CONFIG. args are parsed into a scratch Config for it;
// their errors are left to the parse that follows.
func configFilePath(name string, args []string, envMap map[string]string) string {
	var scratch sidecar.Config
	fs, _, _ := serveFlags(name, &scratch)
	_, _ = parseAll(fs, args)
	if scratch.ConfigFile != "" {
		return scratch.ConfigFile
	}
	return envMap[configFileVar]
}

// fileOptions reads the config file at path and sets each of its options
// in envMap under the option's variable, unless the environment sets that
// variable itself: the file is the layer between the defaults and the
// variables (and the flags over them). It returns the file read and, by
// variable, the options it set, for messages that name the file.
func fileOptions(path string, envMap map[string]string) (*route.File, map[string]route.Option, error) {
	data, err := creds.ReadFile(path)
	if err != nil {
		return nil, nil, &route.Error{File: path, Problem: "cannot read: " + errorsReason(err)}
	}
	byFlag := map[string]option{}
	for _, o := range optionsOf(&sidecar.Config{}) {
		if o.flag != "config" {
			byFlag[o.flag] = o
		}
	}
	f, err := route.Parse(path, data, func(name string) bool { _, ok := byFlag[name]; return ok })
	if err != nil {
		return nil, nil, err
	}
	fromFile := map[string]route.Option{}
	for _, fo := range f.Options {
		o := byFlag[fo.Name]
		isList := o.value.Kind() == reflect.Slice
		if fo.List && !isList {
			return nil, nil, &route.Error{File: path, Line: fo.Line, Field: fo.Name, Problem: "takes one value, not a list"}
		}
		if isList {
			for _, v := range fo.Values {
				// The variable separates items with commas; an item
				// holding one would become two.
				if strings.Contains(v, ",") {
					return nil, nil, &route.Error{File: path, Line: fo.Line, Field: fo.Name, Problem: fmt.Sprintf("%q: one item per list entry, without commas", v)}
				}
			}
		}
		if _, set := envMap[o.env]; set {
			continue
		}
		envMap[o.env] = strings.Join(fo.Values, ",")
		fromFile[o.env] = fo
	}
	return f, fromFile, nil
}

// errorsReason is an error's cause without the path it repeats.
func errorsReason(err error) string {
	if pe, ok := err.(interface{ Unwrap() error }); ok && pe.Unwrap() != nil {
		return pe.Unwrap().Error()
	}
	return err.Error()
}

// fromFileError prefixes the file and line to err when the option it names
// took its value from the config file (no flag and no variable set it).
func fromFileError(err error, cfgFile string, fromFile map[string]route.Option, flagsSet map[string]bool) error {
	oe, ok := err.(*sidecar.OptionError)
	if !ok || flagsSet[oe.Flag] {
		return err
	}
	for _, fo := range fromFile {
		if fo.Name == oe.Flag {
			return fmt.Errorf("%s:%d: %w", cfgFile, fo.Line, err)
		}
	}
	return err
}
