package sidecar

import (
	"strings"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// SigV4a (AWS4-ECDSA-P256-SHA256) is chosen per route: endpoint.SigningFor
// gives a route a region set when --region-set is set (every request) or
// when the host demands SigV4a (S3 Multi-Region Access Points, CloudFront
// KeyValueStore, EventBridge global endpoints: region set "*"). The
// RequestSigner then signs with signer.SigV4a for that set, with the same
// credentials, rotation and key cache (the signer caches the derived ECDSA
// key per access key and secret). What differs from SigV4 is the body: the
// signer signs aws-chunked streams with SigV4 only, so a body --payload
// would chunk is hashed instead (SigV4aPayloadMode), and a client's own
// signed aws-chunked upload is refused (refuseChunkedSigV4a).

func (c *compiled) compileRegionSet() error {
	if strings.Contains(c.cfg.Region, "*") {
		// A region set written where one region goes.
		return optionError("Region", c.cfg.Region, "a pattern of regions is a SigV4a region set: use --region-set "+c.cfg.Region)
	}
	set, err := RegionSetOption(c.cfg.RegionSet)
	c.regionSet = set
	return err
}

// RegionSetOption returns the entries of --region-set, trimmed and without
// blanks, or an *OptionError naming the first that is not a region or a
// pattern of one with '*' (signer.IsRegionSetEntry: "*", "us-*",
// "eu-west-1"). nil means no --region-set. Exported for the commands that
// sign as the proxy does.
func RegionSetOption(entries []string) ([]string, error) {
	var set []string
	for _, r := range entries {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !signer.IsRegionSetEntry(r) {
			return nil, optionError("RegionSet", r, "not a region or a pattern of one: use letters, digits, '-', '_', '.' and '*' (us-east-1, us-*, *)")
		}
		set = append(set, r)
	}
	return set, nil
}

// SigV4aPayloadMode returns the mode a body signed with SigV4a is signed in,
// given the mode --payload chose (Config.PayloadMode): the same, except
// PayloadChunked, which becomes PayloadSigned (the body is hashed, spooled
// if need be), since the signer signs aws-chunked with SigV4 only: no test
// suite or AWS example gives SigV4a chunk signatures to test against.
// Exported for the commands that sign as the proxy does (explain).
func SigV4aPayloadMode(mode string) string {
	if mode == PayloadChunked {
		return PayloadSigned
	}
	return mode
}

// refuseChunkedSigV4a refuses a client's own signed aws-chunked upload to a
// SigV4a route: its chunks would have to be signed again with the proxy's
// keys, which the signer does with SigV4 only. The unsigned form
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER) has no chunk signatures and passes.
func refuseChunkedSigV4a(r Route, c clientChunked) error {
	if len(r.RegionSet) == 0 || c.payload == signer.StreamingUnsignedPayloadTrailer {
		return nil
	}
	return &RequestError{Code: CodeBadRequest, Message: "X-Amz-Content-Sha256 " + c.payload + ": this upstream is signed with SigV4a (region set " +
		strings.Join(r.RegionSet, ",") + "), and the proxy signs aws-chunked uploads with SigV4 only; send the upload unsigned (" +
		signer.StreamingUnsignedPayloadTrailer + ") or as a plain body"}
}
