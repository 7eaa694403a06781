package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
	"github.com/sigv4-sidecar/sigv4-sidecar/diagnose"
	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// maxDiagnoseInput bounds what diagnose reads from a file or stdin.
const maxDiagnoseInput = 16 << 20

// runDiagnose lists every problem it finds with a signed request (and, given
// the server's error body, with what the server said), each with its fix.
// It exits 1 when it found problems, 0 when it found none, 2 on bad usage.
func runDiagnose(ctx context.Context, inv invocation) error {
	fs := inv.flags("diagnose",
		"Usage: sigv4-sidecar diagnose [--authorization H --amz-date D | --request FILE] [--error-body FILE] [--now now]",
		"Lists every problem with a SigV4-signed request, each with its fix; exits 1 when it finds any.")
	authz := fs.String("authorization", "", "the Authorization header's value")
	amzDate := fs.String("amz-date", "", "the X-Amz-Date header's value")
	requestFile := fs.String("request", "", "file holding the whole raw HTTP request (headers and body), or - for stdin; read from stdin when neither this nor --authorization is given")
	errorBody := fs.String("error-body", "", "file holding the server's error response body (XML or JSON), or - for stdin")
	service := fs.String("service", "", "service the endpoint expects (default: derived from the request's Host)")
	region := fs.String("region", "", "region the endpoint expects (default: derived from the request's Host)")
	now := fs.String("now", "", "judge X-Amz-Date against this time: 'now' (this machine's clock), the server's Date header (RFC 1123) or 20150830T123600Z; empty skips the expiry and clock checks")
	canonical := fs.String("canonical-request", "", "file holding our canonical request (as --debug-signing logs it), to diff against the server's; by default recomputed from --request")
	stringToSign := fs.String("string-to-sign", "", "file holding our string to sign, to compare with the server's")
	if err := fs.parse(inv.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *requestFile == "-" && *errorBody == "-" {
		return &exitError{code: 2, msg: "--request and --error-body cannot both read stdin"}
	}
	in := diagnoseInput{service: *service, region: *region, authorization: *authz, amzDate: *amzDate}
	var err error
	if in.now, err = parseNow(*now); err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	if *requestFile != "" || *authz == "" {
		name := *requestFile
		if name == "" {
			name = "-"
		}
		raw, err := readInput(name, inv)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("--request: %v", err)}
		}
		if in.request, in.body, err = parseRawRequest(raw); err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("--request: %v", err)}
		}
	}
	if *errorBody != "" {
		b, err := readInput(*errorBody, inv)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("--error-body: %v", err)}
		}
		e, ok := awserror.Parse(b)
		if !ok {
			return &exitError{code: 2, msg: "--error-body: not an AWS error body (no XML <Code>/<Message>, no JSON __type/message)"}
		}
		in.serverError = &e
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{*canonical, &in.ours.CanonicalRequest}, {*stringToSign, &in.ours.StringToSign}} {
		if f.name == "" {
			continue
		}
		b, err := readInput(f.name, inv)
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		*f.dst = strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	}
	report := examine(in)
	report.print(inv.stdout)
	if len(report.problems) > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// diagnoseInput is everything diagnose was given.
type diagnoseInput struct {
	authorization, amzDate string
	request                *http.Request // a whole raw request, or nil
	body                   []byte
	service, region        string
	now                    time.Time
	serverError            *awserror.Answer
	ours                   signer.Result // our canonical request / string to sign, when given
}

// diagnosis is what diagnose found.
type diagnosis struct {
	notes    []string
	problems []diagnose.Problem
	part     string
	diff     []diagnose.DiffLine
	server   *awserror.Answer
}

func examine(in diagnoseInput) diagnosis {
	var d diagnosis
	opts := diagnose.Options{Now: in.now, Service: in.service, Region: in.region}
	if in.request != nil && (opts.Service == "" || opts.Region == "") {
		if ep, err := endpoint.Resolve(in.request.Host); err == nil {
			if opts.Service == "" {
				opts.Service = ep.SigningName
			}
			if opts.Region == "" {
				opts.Region = ep.Region
			}
			d.notes = append(d.notes, fmt.Sprintf("host %s expects service %s, region %s (endpoint rule %s)", in.request.Host, ep.SigningName, ep.Region, ep.Rule))
		}
	}
	if in.now.IsZero() {
		d.notes = append(d.notes, "expiry and clock checks skipped: pass --now now, or --now with the server's Date")
	}
	switch {
	case in.request != nil:
		d.problems = diagnose.Request(in.request, opts)
		if in.ours.CanonicalRequest == "" && in.serverError != nil {
			if r, err := recomputeCanonical(in.request, in.body); err == nil {
				in.ours = r
			} else {
				d.notes = append(d.notes, "could not recompute our canonical request: "+err.Error())
			}
		}
	default:
		if in.amzDate == "" {
			d.notes = append(d.notes, "date checks skipped: pass --amz-date")
		}
		d.problems = diagnose.Authorization(in.authorization, in.amzDate, opts)
	}
	if in.serverError != nil {
		d.server = in.serverError
		d.problems = append(d.problems, diagnose.Answer(*in.serverError)...)
		if in.serverError.CanonicalRequest == "" && in.serverError.StringToSign == "" {
			d.notes = append(d.notes, "the error body carries no canonical request or string to sign to compare with")
		}
		c := diagnose.CompareWithServer(in.ours, *in.serverError)
		d.part, d.diff = c.Part, c.Diff
		d.problems = append(d.problems, c.Problems...)
	}
	d.problems = diagnose.MergeProblems(d.problems)
	return d
}

func (d diagnosis) print(w io.Writer) {
	var b bytes.Buffer
	for _, n := range d.notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if d.server != nil {
		fmt.Fprintf(&b, "server said: %s", d.server.Code)
		if m := d.server.SafeMessage(); m != "" {
			fmt.Fprintf(&b, ": %s", firstLineOf(m))
		}
		b.WriteString("\n")
	}
	if len(d.problems) == 0 {
		b.WriteString("no problems found\n")
	} else {
		fmt.Fprintf(&b, "%d problem(s):\n", len(d.problems))
	}
	for _, p := range d.problems {
		fmt.Fprintf(&b, "\n[%s] %s\n  fix: %s\n", p.Code, p.Message, sidecar.Advice(p.Code))
	}
	if len(d.diff) > 0 {
		fmt.Fprintf(&b, "\ncanonical request, server's (-) against ours (+); first difference: %s\n", d.part)
		b.WriteString(diagnose.FormatDiff(d.diff))
	}
	w.Write(b.Bytes())
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func parseNow(s string) (time.Time, error) {
	switch s {
	case "":
		return time.Time{}, nil
	case "now":
		return time.Now().UTC(), nil
	}
	if t, err := http.ParseTime(s); err == nil {
		return t.UTC(), nil
	}
	if t, err := parseSigningTime(s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid --now %q: want now, an HTTP date (Sun, 30 Aug 2015 12:36:00 GMT) or 20150830T123600Z", s)
}

func readInput(name string, inv invocation) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = inv.stdin
		if r == nil {
			r = strings.NewReader("")
		}
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxDiagnoseInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDiagnoseInput {
		return nil, fmt.Errorf("larger than %d MiB", maxDiagnoseInput>>20)
	}
	return b, nil
}

// parseRawRequest reads a request as curl -v, a proxy log or a capture shows
// it: request line, headers, blank line, body. Bare \n line ends are fine.
func parseRawRequest(raw []byte) (*http.Request, []byte, error) {
	raw = bytes.TrimLeft(raw, "\r\n\t ")
	if len(raw) == 0 {
		return nil, nil, errors.New("empty request")
	}
	// A request without the blank line that ends its headers is still a
	// request to diagnose.
	if !bytes.Contains(raw, []byte("\n\n")) && !bytes.Contains(raw, []byte("\r\n\r\n")) {
		raw = append(bytes.TrimRight(raw, "\r\n"), "\n\n"...)
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, nil, fmt.Errorf("not an HTTP request: %v", err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil && len(body) == 0 && req.ContentLength > 0 {
		// A capture cut short: judge the headers anyway.
		body = nil
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return req, body, nil
}

// recomputeCanonical computes our canonical request and string to sign for
// a captured signed request: the same scope, time, signed headers and
// payload hash (X-Amz-Content-Sha256, else the body's hash).
func recomputeCanonical(req *http.Request, body []byte) (signer.Result, error) {
	hash := req.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	if req.URL.Host == "" {
		req.URL.Host = req.Host
	}
	return signer.New(nil).Recompute(req, hash)
}
