//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The suite's own signed requests go straight to a server, never through the
// proxy: to obtain STS session credentials, and to check from the server's
// side what the proxy did. The app-like client the tests drive never signs.

// sendDirect signs req with the SDK's signer for service and sends it.
func sendDirect(req *http.Request, body []byte, creds aws.Credentials, service string) (*http.Response, error) {
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, service, region, time.Now()); err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}

// sessionCredentials is the answer of MinIO's STS AssumeRole.
type sessionCredentials struct {
	AccessKeyID     string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
	SecretAccessKey string `xml:"AssumeRoleResult>Credentials>SecretAccessKey"`
	SessionToken    string `xml:"AssumeRoleResult>Credentials>SessionToken"`
	Expiration      string `xml:"AssumeRoleResult>Credentials>Expiration"`
}

// assumeRole asks s's STS for session credentials on behalf of its root
// user: a signed POST to / (MinIO's STS API, service "sts").
func assumeRole(s *server, duration time.Duration) (sessionCredentials, error) {
	form := url.Values{
		"Action":          {"AssumeRole"},
		"Version":         {"2011-06-15"},
		"DurationSeconds": {fmt.Sprint(int(duration.Seconds()))},
	}.Encode()
	req, err := http.NewRequest(http.MethodPost, s.endpoint+"/", strings.NewReader(form))
	if err != nil {
		return sessionCredentials{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := sendDirect(req, []byte(form), aws.Credentials{AccessKeyID: s.accessKey, SecretAccessKey: s.secretKey}, "sts")
	if err != nil {
		return sessionCredentials{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return sessionCredentials{}, fmt.Errorf("AssumeRole: %d %s", resp.StatusCode, body)
	}
	var c sessionCredentials
	if err := xml.Unmarshal(body, &c); err != nil {
		return c, fmt.Errorf("AssumeRole answer: %w", err)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		return c, fmt.Errorf("AssumeRole answer without credentials")
	}
	return c, nil
}

// rootCreds are s's root credentials for sendDirect.
func rootCreds(s *server) aws.Credentials {
	return aws.Credentials{AccessKeyID: s.accessKey, SecretAccessKey: s.secretKey}
}
