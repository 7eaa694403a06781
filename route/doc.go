// Package route reads the proxy's config file (--config) and holds its
// routes: which requests a route takes (incoming host patterns, a path
// prefix, the clients it admits), where it sends them and how it signs them
// (upstream or host mode, service, region, payload mode, headers, and the
// credentials it signs with).
//
// Parse reads a file strictly (an unknown key is an error naming it);
// Compile checks its routes and builds an immutable Set, whose Pick gives
// the first route that takes a request; Watch keeps the Set of a file
// current, re-reading it when it changes (a Kubernetes ConfigMap's ..data
// symlink swap included) or when asked (SIGHUP), and keeps the last good
// Set when a new file is bad. Every error names the file, the line, the
// route and the field.
//
// It is a package of its own because none of this needs HTTP: it turns
// bytes into values and answers "which route" for a host, a path and a
// client name. What it does not hold: the option values shared with the
// command line (--upstream, --allow-hosts, --connect-to, --payload, ...),
// which the proxy checks with its own rules through Compile's check
// function, and what a request does on its route, which is the sidecar
// package's.
package route
