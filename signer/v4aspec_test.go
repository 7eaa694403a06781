package signer

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
)

// This file is an independent SigV4a verifier, written from the
// specification (the IAM user guide's SigV4a pages, NIST SP 800-108 for the
// key derivation) with crypto/hmac, math/big, crypto/ecdh and crypto/ecdsa.
// It calls nothing of the package under test, so that our signatures are
// checked by code that shares none of its canonicalization or derivation.
// It handles the requests the tests give it: services other than the S3
// family (the path as sent, normalized or not, URI-encoded once more).

// specV4aPublicKey derives the SigV4a public key of an access key pair:
// the first HMAC-SHA256 KDF output (counter mode, fixed input
// 00000001 || "AWS4-ECDSA-P256-SHA256" || 00 || access key id || counter || 00000100)
// below n-2, plus one, times the base point.
func specV4aPublicKey(accessKeyID, secret string) (*ecdsa.PublicKey, error) {
	nMinus2 := new(big.Int).Sub(elliptic.P256().Params().N, big.NewInt(2))
	for counter := 1; counter < 256; counter++ {
		mac := hmac.New(sha256.New, []byte("AWS4A"+secret))
		mac.Write([]byte{0, 0, 0, 1})
		mac.Write([]byte("AWS4-ECDSA-P256-SHA256"))
		mac.Write([]byte{0})
		mac.Write([]byte(accessKeyID))
		mac.Write([]byte{byte(counter)})
		mac.Write([]byte{0, 0, 1, 0})
		c := new(big.Int).SetBytes(mac.Sum(nil))
		if c.Cmp(nMinus2) >= 0 {
			continue
		}
		d := c.Add(c, big.NewInt(1)).FillBytes(make([]byte, 32))
		priv, err := ecdh.P256().NewPrivateKey(d)
		if err != nil {
			return nil, err
		}
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), priv.PublicKey().Bytes())
	}
	return nil, errors.New("no candidate below n-2")
}

// specURIEncode is UriEncode from the SigV4 documentation: every byte but
// A-Z a-z 0-9 - . _ ~ (and '/' when keepSlash) as %XX, uppercase.
func specURIEncode(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 || keepSlash && c == '/' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// specV4aVerify checks the SigV4a signature of req (header-signed or
// presigned) with pub. payloadHash is used when the request carries no
// X-Amz-Content-Sha256; normalize removes dot segments and empty ones.
func specV4aVerify(req *http.Request, pub *ecdsa.PublicKey, payloadHash string, normalize bool) error {
	var credential, signedHeaders, signature, amzDate string
	query := req.URL.Query()
	if auth := req.Header.Get("Authorization"); auth != "" {
		rest, ok := strings.CutPrefix(auth, "AWS4-ECDSA-P256-SHA256 ")
		if !ok {
			return fmt.Errorf("algorithm of %q", auth)
		}
		for _, f := range strings.Split(rest, ", ") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "Credential":
				credential = v
			case "SignedHeaders":
				signedHeaders = v
			case "Signature":
				signature = v
			}
		}
		amzDate = req.Header.Get("X-Amz-Date")
	} else {
		if query.Get("X-Amz-Algorithm") != "AWS4-ECDSA-P256-SHA256" {
			return errors.New("no SigV4a signature")
		}
		credential, signedHeaders = query.Get("X-Amz-Credential"), query.Get("X-Amz-SignedHeaders")
		signature, amzDate = query.Get("X-Amz-Signature"), query.Get("X-Amz-Date")
	}
	_, scope, _ := strings.Cut(credential, "/")

	// Canonical query: every parameter but the signature, decoded, encoded
	// with UriEncode, sorted by key then value.
	var pairs []string
	for _, piece := range strings.Split(req.URL.RawQuery, "&") {
		if piece == "" {
			continue
		}
		k, v, _ := strings.Cut(piece, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("query piece %q", piece)
		}
		if dk == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, specURIEncode(dk, false)+"="+specURIEncode(dv, false))
	}
	sort.Slice(pairs, func(i, j int) bool {
		ki, vi, _ := strings.Cut(pairs[i], "=")
		kj, vj, _ := strings.Cut(pairs[j], "=")
		if ki != kj {
			return ki < kj
		}
		return vi < vj
	})

	var headers strings.Builder
	for _, name := range strings.Split(signedHeaders, ";") {
		var values []string
		switch name {
		case "host":
			values = []string{req.Host}
		case "content-length":
			values = []string{strconv.FormatInt(req.ContentLength, 10)}
		default:
			values = req.Header.Values(textproto.CanonicalMIMEHeaderKey(name))
		}
		for i, v := range values {
			values[i] = strings.Join(strings.Fields(v), " ")
		}
		headers.WriteString(name + ":" + strings.Join(values, ",") + "\n")
	}
	if h := req.Header.Get("X-Amz-Content-Sha256"); h != "" {
		payloadHash = h
	}
	wire := req.URL.EscapedPath()
	if req.URL.Opaque != "" {
		wire = req.URL.Opaque
	}
	if normalize {
		trailing := strings.HasSuffix(wire, "/")
		wire = path.Clean("/" + wire)
		if trailing && wire != "/" {
			wire += "/"
		}
	}
	if wire == "" {
		wire = "/"
	}
	creq := strings.Join([]string{req.Method, specURIEncode(wire, true), strings.Join(pairs, "&"),
		headers.String(), signedHeaders, payloadHash}, "\n")
	creqSum := sha256.Sum256([]byte(creq))
	sts := "AWS4-ECDSA-P256-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creqSum[:])
	digest := sha256.Sum256([]byte(sts))
	der, err := hex.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("signature is not hex: %v", err)
	}
	if !ecdsa.VerifyASN1(pub, digest[:], der) {
		return fmt.Errorf("signature does not verify; canonical request:\n%s", creq)
	}
	return nil
}
