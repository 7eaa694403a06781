package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/route"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
)

// runRoutes prints the routes as serve reads them (serve's options, a
// config file's included), or, given a URL, the route a request to it
// takes and what it would be signed as. It sends nothing and fetches no
// credentials.
func runRoutes(_ context.Context, inv invocation) error {
	if inv.listFlags != nil {
		// Listed: its own flag and --config; it takes serve's every
		// option too, which are listed under serve.
		fs := flag.NewFlagSet("routes", flag.ContinueOnError)
		fs.String("config", "", "the config file, as serve's --config (and every other serve option)")
		fs.String("client", "", "pick the route as for this authenticated client (a certificate identity or token name)")
		inv.listFlags(fs)
		return nil
	}
	args, client := clientFlag(inv.args)
	cfg, set, urls, err := loadOptions("routes", args, inv.environ, inv.stdout, true)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(inv.stdout, "\nroutes [--config FILE] [--client NAME] [URL]: print the routes, or the route a request to URL takes (as client NAME) and what it is signed as.")
		return nil
	}
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	switch len(urls) {
	case 0:
		printRoutes(inv.stdout, cfg, set)
		return nil
	case 1:
	default:
		return &exitError{code: 2, msg: "routes takes at most one URL (see sigv4-sidecar routes --help)"}
	}
	u, err := parseTargetURL(urls[0])
	if err != nil {
		return err
	}
	r, err := set.Pick(u.Host, u.EscapedPath(), client)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	rc := cfg.ForRoute(r)
	w := inv.stdout
	fmt.Fprintf(w, "route        %s%s\n", r.Name, where(set, r))
	target := u.Host
	if rc.Upstream != "" {
		target = rc.Upstream
		fmt.Fprintf(w, "upstream     %s (fixed)\n", rc.Upstream)
	} else {
		fmt.Fprintf(w, "upstream     %s (host mode: the request's own host)\n", u.Host)
	}
	if rc.SignHost != "" {
		target = rc.SignHost
		fmt.Fprintf(w, "sign-host    %s\n", rc.SignHost)
	}
	service, region, err := endpoint.ScopeFor(hostOnly(target), rc.Service, rc.Region)
	if err != nil {
		fmt.Fprintf(w, "scope        none: %v\n", err)
	} else {
		fmt.Fprintf(w, "service      %s\nregion       %s\n", service, region)
	}
	fmt.Fprintf(w, "payload      %s\n", payloadLine(rc))
	if rc.PreserveAuthorizationAs != "" {
		fmt.Fprintf(w, "preserve     Authorization as %s\n", rc.PreserveAuthorizationAs)
	}
	fmt.Fprintf(w, "credentials  %s\n", credentialsSource(rc.Config))
	for _, h := range r.AddHeaders {
		fmt.Fprintf(w, "add-header   %s: %s\n", h.Name, h.Value)
	}
	return nil
}

// clientFlag takes --client NAME (or --client=NAME) out of args: a route
// with clients is only taken by a request from one of them.
func clientFlag(args []string) ([]string, string) {
	var out []string
	client := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "--client" || a == "-client") && i+1 < len(args):
			client = args[i+1]
			i++
		case strings.HasPrefix(a, "--client="), strings.HasPrefix(a, "-client="):
			_, client, _ = strings.Cut(a, "=")
		default:
			out = append(out, a)
		}
	}
	return out, client
}

func hostOnly(hostport string) string {
	if i := strings.LastIndex(hostport, "://"); i >= 0 {
		hostport = hostport[i+3:]
	}
	hostport, _, _ = strings.Cut(hostport, "/")
	if h, _, ok := strings.Cut(strings.TrimPrefix(hostport, "["), "]"); ok {
		return h
	}
	h, _, _ := strings.Cut(hostport, ":")
	return h
}

func where(set *route.Set, r *route.Route) string {
	if r.Line == 0 {
		if set.File == "" {
			return " (no config file: the options make the one route)"
		}
		return " (" + set.File + " has no routes: the options make the one route)"
	}
	return fmt.Sprintf(" (%s line %d)", set.File, r.Line)
}

// credentialsSource says where credentials come from under cfg, without
// any secret.
func credentialsSource(cfg creds.Config) string {
	return route.CredentialsOf(cfg).String()
}

// printRoutes lists the routes in the order they are tried.
func printRoutes(w io.Writer, cfg sidecar.Config, set *route.Set) {
	rs := set.Routes()
	switch {
	case set.File == "":
		fmt.Fprintln(w, "no config file: the options make the one route, which takes every request")
	case rs[0].Line == 0:
		fmt.Fprintf(w, "%s has no routes: the options make the one route, which takes every request\n", set.File)
	default:
		fmt.Fprintf(w, "%s: %d routes, tried in this order; the first that matches takes the request\n", set.File, len(rs))
	}
	for _, r := range rs {
		rc := cfg.ForRoute(r)
		fmt.Fprintf(w, "\n%s\n", r.Name)
		fmt.Fprintf(w, "  match        hosts %s, path %s, clients %s\n", listOr(r.Hosts, "any"), orDefault(r.PathPrefix, "any"), listOr(r.Clients, "any"))
		if rc.Upstream != "" {
			fmt.Fprintf(w, "  upstream     %s\n", rc.Upstream)
		} else {
			fmt.Fprintf(w, "  host mode    allow-hosts %s\n", listOr(rc.AllowHosts, "every AWS partition's DNS suffix"))
		}
		if rc.Service != "" || rc.Region != "" {
			fmt.Fprintf(w, "  scope        service %s, region %s\n", orDefault(rc.Service, "from the host"), orDefault(rc.Region, "from the host"))
		}
		fmt.Fprintf(w, "  payload      %s\n", payloadLine(rc))
		if rc.PreserveAuthorizationAs != "" {
			fmt.Fprintf(w, "  preserve     Authorization as %s\n", rc.PreserveAuthorizationAs)
		}
		fmt.Fprintf(w, "  credentials  %s\n", credentialsSource(rc.Config))
		for _, h := range r.AddHeaders {
			fmt.Fprintf(w, "  add-header   %s: %s\n", h.Name, h.Value)
		}
	}
}

// payloadLine is the payload mode, and --content-sha256 when it is always.
func payloadLine(rc sidecar.Config) string {
	if rc.ContentSHA256 == sidecar.ContentSHA256Always {
		return rc.Payload + ", X-Amz-Content-Sha256 always"
	}
	return rc.Payload
}

func listOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ",")
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// routeFlags are explain's and check's --config, --route and --client:
// sign as a route of a config file does under serve.
type routeFlags struct{ config, route, client string }

// routeOptions registers --config, --route and --client.
func (f *commandFlags) routeOptions() *routeFlags {
	rf := &routeFlags{}
	f.StringVar(&rf.config, "config", "", "the config `FILE`, as serve's --config: sign as the route a request to the URL takes there, or --route's")
	f.StringVar(&rf.route, "route", "", "sign as the route `NAME` of the config file (--config, else "+configFileVar+")")
	f.StringVar(&rf.client, "client", "", "with --config and no --route: pick the route as for the authenticated client `NAME`")
	return rf
}

// routed is the route explain or check signs as.
type routed struct {
	cfg   sidecar.Config // the options as the route sets them
	route *route.Route
	where string // its name and where it is written
}

// resolve reads the config file as serve does (its options, the SIGV4_
// variables over them) and returns the route rf names, else the one a
// request to u takes (u nil: --route is needed), with the options as it
// sets them; nil without --config and --route. Explicit credential flags
// are refused: the route's credentials are what it signs with.
func (rf *routeFlags) resolve(f *commandFlags, environ []string, u *url.URL) (*routed, error) {
	if rf.config == "" && rf.route == "" {
		return nil, nil
	}
	for _, name := range f.credFlags {
		if visited(f, name) {
			return nil, &exitError{code: 2, msg: fmt.Sprintf("--%s: a route signs with its own credentials (its credentials field, else the file's options): drop --%s, or name no route", name, name)}
		}
	}
	var args []string
	if rf.config != "" {
		args = []string{"--config", rf.config}
	}
	cfg, routes, _, err := loadOptions(f.Name(), args, environ, io.Discard, false)
	if err != nil {
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	if routes.File == "" {
		return nil, &exitError{code: 2, msg: "--route names a route of a config file: give --config FILE (or " + configFileVar + ")"}
	}
	var r *route.Route
	switch {
	case rf.route != "":
		if r, err = routes.Named(rf.route); err != nil {
			return nil, &exitError{code: 2, msg: err.Error()}
		}
	case u != nil:
		if r, err = routes.Pick(u.Host, u.EscapedPath(), rf.client); err != nil {
			return nil, &exitError{code: 1, msg: err.Error()}
		}
	default:
		return nil, &exitError{code: 2, msg: "--config: name the route with --route NAME"}
	}
	return &routed{cfg: cfg.ForRoute(r), route: r, where: r.Name + where(routes, r)}, nil
}

// visited reports whether the flag name was given.
func visited(f *commandFlags, name string) bool {
	found := false
	f.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
	return found
}
