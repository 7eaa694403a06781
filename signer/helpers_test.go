package signer

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"time"
)

var (
	testCreds = Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	testTime  = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
)

func crcBase64(b []byte) string {
	var out [4]byte
	binary.BigEndian.PutUint32(out[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(out[:])
}
