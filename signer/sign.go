package signer

import (
	"net/http"
	"time"
)

func (s *Signer) sign(req *http.Request, creds Credentials, opts Options, presign bool, expires time.Duration) (Result, error) {
	return Result{}, errField("signer", "not implemented yet")
}
