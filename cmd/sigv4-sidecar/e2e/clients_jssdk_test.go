//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// jsScenarios are testdata/jsclient/scenarios.cjs's scenarios, run in this
// order in one node process per route.
var jsScenarios = []string{"bucket", "odd-keys", "metadata", "stream", "multipart", "delete-bucket"}

// TestClientJSSDK drives the AWS SDK for JavaScript v3 (@aws-sdk/client-s3,
// pinned in testdata/jsclient) through the proxy with a no-op signer, and
// straight to each server with its keys. Its stream upload is aws-chunked
// with an unsigned CRC32 trailer, the SDK's default for a stream body.
func TestClientJSSDK(t *testing.T) {
	t.Parallel() // a heavy test: see doc.go
	tools := needClients(t)
	script, err := filepath.Abs(filepath.Join("testdata", "jsclient", "scenarios.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := json.Marshal(clientKeys)
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range routes(t, s) {
				t.Run(r.name, func(t *testing.T) {
					sign := "none"
					env := clientEnv(t,
						"NODE_PATH="+tools.nodeModules,
						"E2E_ENDPOINT="+r.endpoint,
						"E2E_BUCKET="+newBucketName("e2e-jssdk"),
						"E2E_KEYS="+string(keys),
						"E2E_WORK="+t.TempDir(),
						fmt.Sprintf("E2E_MULTIPART_MIB=%d", multipartMiB),
						"E2E_TABS="+map[string]string{"\t": "1", " ": "0"}[headerTab(s)],
					)
					if r.accessKey != "" {
						sign = "keys"
						env = append(env, withKeys(r.accessKey, r.secretKey)...)
					}
					cmd := exec.Command("node", append([]string{script}, jsScenarios...)...)
					cmd.Env = append(env, "E2E_SIGN="+sign)
					out, err := run(cmd)
					if err != nil {
						t.Errorf("through %s: %v", r.name, err)
					}
					results := map[string]string{}
					sc := bufio.NewScanner(bytes.NewReader(out))
					for sc.Scan() {
						var res struct{ Scenario, Error string }
						if json.Unmarshal(sc.Bytes(), &res) == nil && res.Scenario != "" {
							results[res.Scenario] = res.Error
						}
					}
					for _, name := range jsScenarios {
						t.Run(name, func(t *testing.T) {
							msg, ran := results[name]
							switch {
							case !ran:
								t.Errorf("through %s: the script reported nothing for %s:\n%s", r.name, name, out)
							case msg != "":
								t.Errorf("through %s: %s", r.name, msg)
							}
						})
					}
				})
			}
		})
	}
}
