// Package listen holds what the proxy's listener knows of TLS and of its
// clients, apart from HTTP proxying: the serving certificate, the client CA
// and the bearer-tokens file, each a file re-read when it changes (the last
// good value kept when a new one is bad); the TLS configuration built from
// them (TLS 1.2 minimum, HTTP/2 by ALPN, client certificates verified
// against the CA current at each handshake); a listener that runs TLS
// handshakes off the accept loop; and the client's identity, taken from its
// verified certificate or its bearer token.
//
// It is a package of its own because none of this needs the proxy: it reads
// files, verifies certificates and compares token hashes, and hands the
// sidecar package an identity or a typed error (*UnauthenticatedError) to
// map to 401 client_unauthenticated. It imports nothing of ours. What it
// does not hold: answering HTTP, routing, and what an identity may reach.
//
// Files are watched by a small poll of each path's identity (os.Stat follows
// symlinks, so the device, inode, size and modification time are those of
// the file a Kubernetes Secret's ..data symlink currently points at, and
// cert-manager's or an editor's rename shows as a new inode), once a second
// by default: a stat per file, no busy loop. An inotify watch (fsnotify)
// would need the parent directory watched and its events filtered to follow
// the ..data swap, and misses changes on some network and overlay file
// systems; four stats a second cost less than the dependency.
package listen
