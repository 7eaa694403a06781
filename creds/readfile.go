package creds

import (
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
)

// MaxFileSize is the most ReadFile reads: far above any credentials file,
// token or CA bundle, far below what would exhaust a sidecar's memory.
const MaxFileSize = 1 << 20

// ReadFile reads a file an operator named (--credentials-file, a web
// identity or container authorization token file, --upstream-ca-file) and
// refuses one larger than MaxFileSize: /dev/zero or a huge file named by
// mistake otherwise ends the process in "fatal error: out of memory". The
// error names the path and the limit, never the content. Safe for
// concurrent use.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if len(data) > MaxFileSize {
		return nil, &os.PathError{Op: "read", Path: path, Err: errFileTooLarge}
	}
	return data, nil
}

var errFileTooLarge = fmt.Errorf("larger than %d MiB, the most the proxy reads of a file it is given", MaxFileSize>>20)

// limitedTokenFile is stscreds.IdentityTokenFile read through ReadFile.
type limitedTokenFile string

func (f limitedTokenFile) GetIdentityToken() ([]byte, error) {
	b, err := ReadFile(string(f))
	if err != nil {
		return nil, fmt.Errorf("unable to read web identity token file: %w", err)
	}
	return b, nil
}

var _ stscreds.IdentityTokenRetriever = limitedTokenFile("")

// limitTokenFiles makes the SDK read the token files it is pointed at
// (AWS_WEB_IDENTITY_TOKEN_FILE or a profile's web_identity_token_file, and
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE for EKS Pod Identity) through
// ReadFile. The SDK applies these options after it has set its own readers,
// so they replace them. webIdentity is applied too, after the swap.
func limitTokenFiles(webIdentity func(*stscreds.WebIdentityRoleOptions)) []func(*config.LoadOptions) error {
	return []func(*config.LoadOptions) error{
		config.WithWebIdentityRoleCredentialOptions(func(o *stscreds.WebIdentityRoleOptions) {
			if f, ok := o.TokenRetriever.(stscreds.IdentityTokenFile); ok {
				o.TokenRetriever = limitedTokenFile(f)
			}
			if webIdentity != nil {
				webIdentity(o)
			}
		}),
		config.WithEndpointCredentialOptions(func(o *endpointcreds.Options) {
			path := os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
			if path == "" {
				return
			}
			o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
				b, err := ReadFile(path)
				if err != nil {
					return "", fmt.Errorf("failed to read authorization token: %w", err)
				}
				return string(b), nil
			})
		}),
	}
}
