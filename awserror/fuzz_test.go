package awserror

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzRead: no header or body panics the reader; every code it returns is
// already normalized; SafeMessage never shows a 64-hex signature it was
// given after "Signature=".
func FuzzRead(f *testing.F) {
	for _, seed := range []struct{ header, body string }{
		{"", `<Error><Code>SignatureDoesNotMatch</Code><CanonicalRequest>GET&#xA;/&#xA;&#xA;host:a&#xA;&#xA;host&#xA;UNSIGNED-PAYLOAD</CanonicalRequest><StringToSignBytes>41 57</StringToSignBytes></Error>`},
		{"", `{"__type":"x#InvalidSignatureException","message":"The Canonical String for this request should have been\n'GET\n/\n\nhost:a\n\nhost\nabc'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n1\n2\n3'\n"}`},
		{"", `<ErrorResponse><Error><Code>IncompleteSignature</Code><Message>Authorization=AWS4-HMAC-SHA256 Signature=` + vanillaSignature + `</Message></Error></ErrorResponse>`},
		{"", `<Error><Code>`},
		{"ThrottlingException:http://internal.amazon.com/", `{"details":{"code":"Nope"},"__type":"SlowDown","message":"Rate exc`},
		{" com.amazon#ExpiredTokenException ", `[{"__type":1}]`},
	} {
		f.Add(seed.header, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, errorType string, body []byte) {
		a := Read(http.Header{"X-Amzn-Errortype": {errorType}}, body)
		if CodeName(a.Code) != a.Code {
			t.Fatalf("code %q is not normalized", a.Code)
		}
		if strings.Contains(a.SafeMessage(), "Signature="+vanillaSignature) {
			t.Fatalf("SafeMessage shows the signature: %q", a.SafeMessage())
		}
		if p, ok := Parse(body); ok != (p.Code != "" || p.Message != "") {
			t.Fatalf("Parse = %+v, %v", p, ok)
		}
	})
}
