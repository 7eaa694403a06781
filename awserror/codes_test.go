package awserror

import "testing"

func TestIsCredentialRejection(t *testing.T) {
	for code, want := range map[string]bool{
		"ExpiredToken":                true,
		"ExpiredTokenException":       true,
		"InvalidClientTokenId":        true,
		"InvalidAccessKeyId":          true,
		"UnrecognizedClientException": true,
		"RequestExpired":              true,
		"TokenRefreshRequired":        true,
		"InvalidToken":                true,
		"AuthFailure":                 true,
		"com.amazon.coral.service#ExpiredTokenException":                true,
		"UnrecognizedClientException:http://internal.amazon.com/coral/": true,
		" ExpiredToken ":            true,
		"AccessDenied":              false,
		"AccessDeniedException":     false,
		"SignatureDoesNotMatch":     false,
		"InvalidSignatureException": false,
		"ThrottlingException":       false,
		"expiredtoken":              false,
		"":                          false,
	} {
		if got := IsCredentialRejection(code); got != want {
			t.Errorf("IsCredentialRejection(%q) = %v, want %v", code, got, want)
		}
		if got := CredentialRejectionReason(code) != ""; got != want {
			t.Errorf("CredentialRejectionReason(%q) non-empty = %v, want %v", code, got, want)
		}
	}
}

// TestCodeNameTrimsAroundDecorations: a space left before a ':' decoration
// (found by FuzzRead) stayed in the code, so normalizing twice changed it.
func TestCodeNameTrimsAroundDecorations(t *testing.T) {
	for _, in := range []string{"com.amazon#ExpiredToken :http://x", " ExpiredToken :", "a# ExpiredToken"} {
		got := CodeName(in)
		if got != "ExpiredToken" || CodeName(got) != got {
			t.Errorf("CodeName(%q) = %q, want ExpiredToken, unchanged by a second pass", in, got)
		}
	}
}

// TestCodeFamilies: each family holds its codes and none of its
// neighbours', decorated or not.
func TestCodeFamilies(t *testing.T) {
	for _, tc := range []struct {
		code                               string
		throttling, signature, credentials bool
	}{
		{code: "SlowDown", throttling: true},
		{code: "com.amazonaws.dynamodb.v20120810#ThrottlingException", throttling: true},
		{code: "RequestLimitExceeded", throttling: true},
		{code: "SignatureDoesNotMatch", signature: true},
		{code: "InvalidSignatureException:http://internal.amazon.com/", signature: true},
		{code: "AuthorizationHeaderMalformed", signature: true},
		{code: "ExpiredToken", credentials: true},
		{code: "AccessDenied"},
		{code: "slowdown"},
		{code: ""},
	} {
		if got := IsThrottling(tc.code); got != tc.throttling {
			t.Errorf("IsThrottling(%q) = %v", tc.code, got)
		}
		if got := IsSignatureRejection(tc.code); got != tc.signature {
			t.Errorf("IsSignatureRejection(%q) = %v", tc.code, got)
		}
		if got := IsCredentialRejection(tc.code); got != tc.credentials {
			t.Errorf("IsCredentialRejection(%q) = %v", tc.code, got)
		}
	}
	for _, tc := range []struct {
		code, message string
		want          bool
	}{
		{"RequestTimeTooSkewed", "", true},
		{"InvalidSignatureException", "Signature expired: 20261122T130000Z is now earlier than 20261122T135500Z", true},
		{"SignatureDoesNotMatch", "Signature not yet current: 20261122T150000Z is still later than 20261122T140500Z", true},
		{"SignatureDoesNotMatch", "The request signature we calculated does not match", false},
		{"RequestExpired", "Request has expired", false},
	} {
		if got := IsClockSkew(tc.code, tc.message); got != tc.want {
			t.Errorf("IsClockSkew(%q, %q) = %v, want %v", tc.code, tc.message, got, tc.want)
		}
	}
}
