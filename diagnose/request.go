package diagnose

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// Options give Request and Authorization what they judge a request
// against. Every field is optional; a check whose input is missing is
// skipped.
type Options struct {
	// Now is the time to judge X-Amz-Date against: the server's Date when
	// known, else the local clock. Zero skips the expiry and skew checks.
	Now time.Time
	// MaxSkew is how far X-Amz-Date may be from Now; 0 means 15 minutes,
	// as AWS.
	MaxSkew time.Duration
	// Service and Region are what the target endpoint expects (from the
	// endpoint package); they are compared with the credential scope.
	Service, Region string
}

// Authorization lists every problem in an Authorization header and its
// X-Amz-Date (amzDate; "" skips the date checks) when the rest of the
// request is unknown. It has no side effects.
func Authorization(authorization, amzDate string, opts Options) []Problem {
	a, defects := signer.ParseAuthorization(authorization)
	return append(fromDefects(defects), check(a, amzDate, nil, opts)...)
}

// Request lists every problem with req's signature: its Authorization
// header (or presigned X-Amz-* query parameters), X-Amz-Date (or Date), and
// whether the headers SignedHeaders names are on the request (req.Host
// counts as host). It does not read the body and does not modify req.
func Request(req *http.Request, opts Options) []Problem {
	header := req.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	host := req.Host
	if host == "" && req.URL != nil {
		host = req.URL.Host
	}
	if host != "" {
		header.Set("Host", host)
	}
	var query url.Values
	if req.URL != nil {
		query, _ = url.ParseQuery(req.URL.RawQuery)
	}
	authz := header.Get("Authorization")
	if query.Get("X-Amz-Algorithm") != "" || query.Get("X-Amz-Signature") != "" {
		if authz != "" {
			return []Problem{problem(CodeMultipleAuth, "the request carries both an Authorization header and presigned X-Amz-* query parameters")}
		}
		return diagnosePresigned(query, header, opts)
	}
	if authz == "" {
		return []Problem{problem(CodeAuthorizationMissing, "the request has no Authorization header and no X-Amz-Signature query parameter")}
	}
	a, defects := signer.ParseAuthorization(authz)
	problems := fromDefects(defects)
	date := header.Get("X-Amz-Date")
	if date == "" {
		if d := header.Get("Date"); d != "" {
			date = d
		} else {
			problems = append(problems, problem(CodeMissingDate, "the request has neither X-Amz-Date nor Date"))
		}
	}
	return append(problems, check(a, date, header, opts)...)
}

func diagnosePresigned(q url.Values, header http.Header, opts Options) []Problem {
	a, defects := signer.ParsePresigned(q)
	problems := fromDefects(defects)
	date := q.Get("X-Amz-Date")
	if date == "" {
		problems = append(problems, problem(CodeMissingDate, "the presigned URL has no X-Amz-Date"))
	}
	// A presigned URL lives from X-Amz-Date to X-Amz-Date + X-Amz-Expires;
	// the header check's symmetric skew window does not apply.
	presignOpts := opts
	presignOpts.Now = time.Time{}
	problems = append(problems, check(a, date, header, presignOpts)...)
	if t, err := time.Parse(amzDateLayout, date); err == nil && !opts.Now.IsZero() {
		expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
		if err != nil || expires <= 0 {
			expires = 0
		}
		now := opts.Now.UTC()
		switch {
		case t.After(now.Add(maxSkew(opts))):
			problems = append(problems, problem(CodeSignatureNotYetValid, "X-Amz-Date "+date+" is "+roundDuration(t.Sub(now))+" after now ("+now.Format(amzDateLayout)+")"))
		case expires > 0 && now.After(t.Add(time.Duration(expires)*time.Second)):
			problems = append(problems, problem(CodeSignatureExpired, "the presigned URL expired at "+t.Add(time.Duration(expires)*time.Second).Format(amzDateLayout)+
				" (X-Amz-Date "+date+" + X-Amz-Expires "+strconv.Itoa(expires)+"s), "+roundDuration(now.Sub(t.Add(time.Duration(expires)*time.Second)))+" before now"))
		}
	}
	return problems
}

const amzDateLayout = "20060102T150405Z"

func maxSkew(opts Options) time.Duration {
	if opts.MaxSkew > 0 {
		return opts.MaxSkew
	}
	return 15 * time.Minute
}

// check runs the checks on a that need more than the Authorization header: the
// date (amzDate "" skips them), the header set (nil skips them), the clock
// and the expected scope.
func check(a signer.Authorization, amzDate string, header http.Header, opts Options) []Problem {
	var problems []Problem
	if amzDate != "" {
		t, err := time.Parse(amzDateLayout, amzDate)
		if err != nil {
			// A Date header (RFC 7231) is allowed in place of X-Amz-Date.
			if header != nil && header.Get("X-Amz-Date") == "" {
				if ht, herr := http.ParseTime(amzDate); herr == nil {
					t, err = ht.UTC(), nil
				}
			}
		}
		if err != nil {
			problems = append(problems, problem(CodeMalformedDate, "X-Amz-Date "+signer.QuoteShort(amzDate)+" is not ISO 8601 basic format (yyyyMMddTHHmmssZ)"))
		} else {
			if a.Date != "" && a.Date != t.Format("20060102") {
				problems = append(problems, problem(CodeDateScopeMismatch, "the credential scope's date "+a.Date+" is not X-Amz-Date's day "+t.Format("20060102")+" ("+amzDate+")"))
			}
			if !opts.Now.IsZero() {
				now := opts.Now.UTC()
				switch d := t.Sub(now); {
				case d < -maxSkew(opts):
					problems = append(problems, problem(CodeSignatureExpired, "X-Amz-Date "+t.Format(amzDateLayout)+" is "+roundDuration(-d)+" before now ("+now.Format(amzDateLayout)+"); AWS accepts "+roundDuration(maxSkew(opts))))
				case d > maxSkew(opts):
					problems = append(problems, problem(CodeSignatureNotYetValid, "X-Amz-Date "+t.Format(amzDateLayout)+" is "+roundDuration(d)+" after now ("+now.Format(amzDateLayout)+"): the signer's clock is ahead; AWS accepts "+roundDuration(maxSkew(opts))))
				}
			}
		}
	}
	if opts.Region != "" && a.Region != "" && a.Region != opts.Region {
		problems = append(problems, problem(CodeWrongRegion, "the credential scope's region is "+signer.QuoteShort(a.Region)+"; the endpoint expects "+signer.QuoteShort(opts.Region)))
	}
	if opts.Service != "" && a.Service != "" && a.Service != opts.Service {
		problems = append(problems, problem(CodeWrongService, "the credential scope's service is "+signer.QuoteShort(a.Service)+"; the endpoint expects "+signer.QuoteShort(opts.Service)))
	}
	if header == nil {
		return problems
	}
	var absent []string
	for _, name := range a.SignedHeaders {
		if name == "" || name == ":authority" {
			continue
		}
		if name == "x-amz-date" && header.Get("Date") == "" {
			continue // reported as missing-date
		}
		if _, ok := header[http.CanonicalHeaderKey(name)]; !ok {
			absent = append(absent, name)
		}
	}
	if len(absent) > 0 {
		problems = append(problems, problem(CodeSignedHeaderAbsent, "SignedHeaders lists "+strings.Join(absent, ", ")+", absent from the request"))
	}
	service := opts.Service
	if service == "" {
		service = a.Service
	}
	if signer.IsS3Family(service) {
		var unsigned []string
		for name := range header {
			lower := strings.ToLower(name)
			if strings.HasPrefix(lower, "x-amz-") && !a.Signs(lower) {
				unsigned = append(unsigned, lower)
			}
		}
		if len(unsigned) > 0 {
			slices.Sort(unsigned)
			problems = append(problems, problem(CodeAmzHeaderNotSigned, "x-amz-* headers present but not signed: "+strings.Join(unsigned, ", ")))
		}
	}
	if rule, listed := endpoint.PayloadRuleFor(service); listed && rule.ContentSHA256 &&
		header.Get("X-Amz-Content-Sha256") == "" && header.Get("Authorization") != "" {
		problems = append(problems, problem(CodeMissingContentSHA256, "a "+service+" request without X-Amz-Content-Sha256, which "+service+" requires ("+rule.Source+")"))
	}
	return problems
}

func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Minute:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}
