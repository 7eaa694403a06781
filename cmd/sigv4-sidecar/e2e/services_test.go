//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// The real keys of the services stand-in: the proxy's, which the apps never
// hold.
const (
	serviceRealKeyID  = "AKIDE2EREALSERVICES1"
	serviceRealSecret = "e2e-real-secret-of-the-services-stand-in"
)

// serviceCall is one request the services stand-in received and verified.
type serviceCall struct {
	service string // the verified scope's
	keyID   string // the access key id of its Authorization
	target  string // X-Amz-Target (JSON protocols)
	action  string // the form's Action (query protocol)
	body    []byte
}

// servicesUpstream stands in for DynamoDB (AWS JSON 1.0, X-Amz-Target), SQS
// (the query protocol, as the CLI 2.9 speaks it) and SNS (query): it
// verifies every request with signer.Verify against the real keys only and
// answers in the protocol's shape. A table and a queue keep what is put in
// them, so a client's parsed result proves the round trip.
type servicesUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	calls    []serviceCall
	refused  int
	items    map[string]map[string]map[string]any // DynamoDB: the id attribute's value -> item
	messages []string                             // SQS and SNS: message bodies received
}

func newServicesUpstream(t *testing.T) *servicesUpstream {
	u := &servicesUpstream{items: map[string]map[string]map[string]any{}}
	lookup := func(id string) (signer.Credentials, bool) {
		return signer.Credentials{AccessKeyID: serviceRealKeyID, SecretAccessKey: serviceRealSecret}, id == serviceRealKeyID
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := signer.New(nil).Verify(r, lookup, signer.VerifyOptions{Now: time.Now(), Region: region, HashBody: true})
		if err != nil {
			u.mu.Lock()
			u.refused++
			u.mu.Unlock()
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>stand-in: %s</Message></Error></ErrorResponse>", err)
			return
		}
		body, _ := io.ReadAll(r.Body)
		auth, _ := signer.ParseAuthorization(r.Header.Get("Authorization"))
		call := serviceCall{service: strings.Split(res.Scope, "/")[2], keyID: auth.AccessKeyID, target: r.Header.Get("X-Amz-Target"), body: body}
		form, _ := url.ParseQuery(string(body))
		if call.target == "" {
			call.action = form.Get("Action")
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		u.calls = append(u.calls, call)
		switch call.service {
		case "dynamodb":
			u.dynamoDB(w, call)
		case "sqs":
			u.sqs(w, form)
		case "sns":
			u.sns(w, form)
		default:
			http.Error(w, "stand-in: no service "+call.service, http.StatusNotFound)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *servicesUpstream) dynamoDB(w http.ResponseWriter, call serviceCall) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	var in struct {
		TableName string
		Item, Key map[string]map[string]any
	}
	json.Unmarshal(call.body, &in)
	var out any
	switch strings.TrimPrefix(call.target, "DynamoDB_20120810.") {
	case "ListTables":
		out = map[string]any{"TableNames": []string{"e2e-table", "e2e-other"}}
	case "PutItem":
		u.items[fmt.Sprint(in.Item["id"]["S"])] = in.Item
		out = map[string]any{}
	case "GetItem":
		item, ok := u.items[fmt.Sprint(in.Key["id"]["S"])]
		if !ok {
			out = map[string]any{}
		} else {
			out = map[string]any{"Item": item}
		}
	default:
		w.WriteHeader(http.StatusBadRequest)
		out = map[string]string{"__type": "com.amazon.coral.service#UnknownOperationException", "message": call.target}
	}
	json.NewEncoder(w).Encode(out)
}

func (u *servicesUpstream) sqs(w http.ResponseWriter, form url.Values) {
	w.Header().Set("Content-Type", "text/xml")
	const ns = `xmlns="http://queue.amazonaws.com/doc/2012-11-05/"`
	switch form.Get("Action") {
	case "ListQueues":
		fmt.Fprintf(w, `<ListQueuesResponse %s><ListQueuesResult><QueueUrl>https://sqs.us-east-1.amazonaws.com/123456789012/e2e-queue</QueueUrl></ListQueuesResult><ResponseMetadata><RequestId>e2e-sqs-1</RequestId></ResponseMetadata></ListQueuesResponse>`, ns)
	case "SendMessage":
		msg := form.Get("MessageBody")
		u.messages = append(u.messages, msg)
		sum := md5.Sum([]byte(msg))
		fmt.Fprintf(w, `<SendMessageResponse %s><SendMessageResult><MD5OfMessageBody>%s</MD5OfMessageBody><MessageId>e2e-message-%d</MessageId></SendMessageResult><ResponseMetadata><RequestId>e2e-sqs-2</RequestId></ResponseMetadata></SendMessageResponse>`, ns, hex.EncodeToString(sum[:]), len(u.messages))
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>stand-in: %s</Message></Error></ErrorResponse>`, form.Get("Action"))
	}
}

func (u *servicesUpstream) sns(w http.ResponseWriter, form url.Values) {
	w.Header().Set("Content-Type", "text/xml")
	const ns = `xmlns="http://sns.amazonaws.com/doc/2010-03-31/"`
	switch form.Get("Action") {
	case "ListTopics":
		fmt.Fprintf(w, `<ListTopicsResponse %s><ListTopicsResult><Topics><member><TopicArn>arn:aws:sns:us-east-1:123456789012:e2e-topic</TopicArn></member></Topics></ListTopicsResult><ResponseMetadata><RequestId>e2e-sns-1</RequestId></ResponseMetadata></ListTopicsResponse>`, ns)
	case "Publish":
		u.messages = append(u.messages, form.Get("Message"))
		fmt.Fprintf(w, `<PublishResponse %s><PublishResult><MessageId>e2e-published-%d</MessageId></PublishResult><ResponseMetadata><RequestId>e2e-sns-2</RequestId></ResponseMetadata></PublishResponse>`, ns, len(u.messages))
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse %s><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>stand-in: %s</Message></Error></ErrorResponse>`, ns, form.Get("Action"))
	}
}

// received is how many requests reached the stand-in, verified or not.
func (u *servicesUpstream) received() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.calls) + u.refused
}

// last is the last request the stand-in verified.
func (u *servicesUpstream) last(t *testing.T) serviceCall {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.calls) == 0 {
		t.Fatal("the stand-in received nothing")
	}
	return u.calls[len(u.calls)-1]
}

// lastMessage is the last SQS or SNS message body the stand-in stored.
func (u *servicesUpstream) lastMessage() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.messages) == 0 {
		return ""
	}
	return u.messages[len(u.messages)-1]
}

// The AWS hosts the services sidecar allows and sends to the stand-in;
// kinesis, STS and other regions are not allowed.
var serviceHosts = []string{"dynamodb.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com", "sns.us-east-1.amazonaws.com"}

// servicesSidecar starts a sidecar in host mode with the real keys, the
// client key, a MITM CA for HTTPS_PROXY and --allow-hosts serviceHosts,
// each sent to up by --connect-to.
func servicesSidecar(t *testing.T, up *servicesUpstream, caCert, caKey string) *sidecar {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "client-keys")
	if err := os.WriteFile(keys, []byte(e2eClientKeyID+" "+e2eClientSecret+" "+e2eClientName+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--client-keys-file", keys, "--allow-hosts", strings.Join(serviceHosts, ","),
		"--mitm-ca-cert", caCert, "--mitm-ca-key", caKey}
	for _, h := range serviceHosts {
		args = append(args, "--connect-to", h+":="+up.URL)
	}
	return startSidecar(t, sidecarEnv(t.TempDir(), withKeys(serviceRealKeyID, serviceRealSecret)...), args...)
}

// sentBodies notes the body and X-Amz-Target of every request an SDK sends,
// to compare with what the upstream received.
type sentBodies struct {
	next http.RoundTripper
	mu   sync.Mutex
	sent []serviceCall
}

func (s *sentBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	s.mu.Lock()
	s.sent = append(s.sent, serviceCall{target: r.Header.Get("X-Amz-Target"), body: body})
	s.mu.Unlock()
	return s.next.RoundTrip(r)
}

func (s *sentBodies) last() serviceCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sent) == 0 {
		return serviceCall{}
	}
	return s.sent[len(s.sent)-1]
}

// TestClientKeysJSONAndQueryServicesSDK: aws-sdk-go-v2's DynamoDB client
// (AWS JSON 1.0) and SNS client (the query protocol), holding only a client
// key, reach a verifying stand-in that knows only the real keys, with
// BaseEndpoint at the proxy and through HTTPS_PROXY with the proxy's MITM
// CA trusted. The stand-in sees the real key and the body and target the
// SDK sent, byte for byte; the SDK parses the answers. A wrong secret, an
// unknown key and a service or region --allow-hosts does not name get the
// AWS error the SDK reports (JSON for DynamoDB, XML for SNS and STS), from
// the proxy, and nothing reaches the stand-in.
func TestClientKeysJSONAndQueryServicesSDK(t *testing.T) {
	up := newServicesUpstream(t)
	caCert, caKey := mitmCA(t)
	sc := servicesSidecar(t, up, caCert, caKey)
	ctx := context.Background()
	caPEM, err := os.ReadFile(caCert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	proxyURL, _ := url.Parse(sc.url())

	for _, setup := range []struct {
		name   string
		config func(keyID, secret string) (aws.Config, *sentBodies)
	}{
		{"endpoint at the proxy", func(keyID, secret string) (aws.Config, *sentBodies) {
			cfg := sdkConfig(sc.url(), keyID, secret, nil)
			sent := &sentBodies{next: cfg.HTTPClient.(*http.Client).Transport}
			cfg.HTTPClient = &http.Client{Transport: sent, Timeout: time.Minute}
			return cfg, sent
		}},
		{"HTTPS_PROXY", func(keyID, secret string) (aws.Config, *sentBodies) {
			cfg := sdkConfig("", keyID, secret, nil)
			cfg.BaseEndpoint = nil // the SDK's own endpoint: https://dynamodb.us-east-1.amazonaws.com
			sent := &sentBodies{next: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots}}}
			cfg.HTTPClient = &http.Client{Transport: sent, Timeout: time.Minute}
			return cfg, sent
		}},
	} {
		t.Run(setup.name, func(t *testing.T) {
			cfg, sent := setup.config(e2eClientKeyID, e2eClientSecret)
			// The upstream got what the SDK sent, signed with the real key.
			same := func(what string) {
				t.Helper()
				got, want := up.last(t), sent.last()
				if got.keyID != serviceRealKeyID || got.target != want.target || !bytes.Equal(got.body, want.body) {
					t.Errorf("%s: the stand-in received key %s target %q body %q; want key %s and the SDK's target %q body %q",
						what, got.keyID, got.target, got.body, serviceRealKeyID, want.target, want.body)
				}
			}
			ddb := dynamodb.NewFromConfig(cfg)
			tables, err := ddb.ListTables(ctx, &dynamodb.ListTablesInput{})
			if err != nil || !slices.Equal(tables.TableNames, []string{"e2e-table", "e2e-other"}) {
				t.Fatalf("ListTables: %+v %v", tables, err)
			}
			same("ListTables")
			id := "k-" + strings.ReplaceAll(setup.name, " ", "-")
			value := "héllo & \"quoted\" {json} through " + setup.name
			if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("e2e-table"), Item: map[string]ddbtypes.AttributeValue{
				"id": &ddbtypes.AttributeValueMemberS{Value: id}, "v": &ddbtypes.AttributeValueMemberS{Value: value},
			}}); err != nil {
				t.Fatalf("PutItem: %v", err)
			}
			same("PutItem")
			item, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("e2e-table"), Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}}})
			if err != nil {
				t.Fatalf("GetItem: %v", err)
			}
			if v, ok := item.Item["v"].(*ddbtypes.AttributeValueMemberS); !ok || v.Value != value {
				t.Errorf("GetItem: %+v, want v = %q", item.Item, value)
			}
			same("GetItem")

			topics := sns.NewFromConfig(cfg)
			list, err := topics.ListTopics(ctx, &sns.ListTopicsInput{})
			if err != nil || len(list.Topics) != 1 || aws.ToString(list.Topics[0].TopicArn) != "arn:aws:sns:us-east-1:123456789012:e2e-topic" {
				t.Fatalf("ListTopics: %+v %v", list, err)
			}
			same("ListTopics")
			message := "a=b&c=d+e %20 ünïcode through " + setup.name
			pub, err := topics.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:e2e-topic"), Message: aws.String(message)})
			if err != nil || !strings.HasPrefix(aws.ToString(pub.MessageId), "e2e-published-") {
				t.Fatalf("Publish: %+v %v", pub, err)
			}
			same("Publish")
			if got := up.lastMessage(); got != message {
				t.Errorf("Publish: the stand-in got the message %q, want %q", got, message)
			}
			if up.last(t).action != "Publish" {
				t.Errorf("Publish: the stand-in saw the action %q", up.last(t).action)
			}

			before := up.received()
			for _, tc := range []struct{ name, keyID, secret, want, proxyCode string }{
				{"wrong secret", e2eClientKeyID, e2eClientSecret + "x", "SignatureDoesNotMatch", "client_signature_invalid"},
				{"unknown key", "AKIDE2EUNKNOWNKEY001", e2eClientSecret, "InvalidClientTokenId", "client_key_unknown"},
			} {
				cfg, _ := setup.config(tc.keyID, tc.secret)
				_, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{})
				wantSDKError(t, "dynamodb "+tc.name, err, tc.want, tc.proxyCode)
				_, err = sns.NewFromConfig(cfg).ListTopics(ctx, &sns.ListTopicsInput{})
				wantSDKError(t, "sns "+tc.name, err, tc.want, tc.proxyCode)
			}
			if n := up.received() - before; n != 0 {
				t.Errorf("the stand-in received %d refused requests", n)
			}
		})
	}

	t.Run("service not allowed", func(t *testing.T) {
		// At the proxy's address: the scope names the endpoint, which
		// --allow-hosts does not take. (Through HTTPS_PROXY, the CONNECT
		// to such a host is refused before any TLS.)
		before := up.received()
		cfg := sdkConfig(sc.url(), e2eClientKeyID, e2eClientSecret, nil)
		_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		wantSDKError(t, "sts", err, "AccessDenied", "host_not_allowed")
		west := cfg.Copy()
		west.Region = "us-west-2"
		_, err = dynamodb.NewFromConfig(west).ListTables(ctx, &dynamodb.ListTablesInput{})
		wantSDKError(t, "dynamodb in us-west-2", err, "AccessDenied", "host_not_allowed")
		_, err = sns.NewFromConfig(west).ListTopics(ctx, &sns.ListTopicsInput{})
		wantSDKError(t, "sns in us-west-2", err, "AccessDenied", "host_not_allowed")
		if n := up.received() - before; n != 0 {
			t.Errorf("the stand-in received %d refused requests", n)
		}
	})
	assertNoSecrets(t, sc, e2eClientSecret, serviceRealSecret)
}

// TestClientKeysJSONAndQueryServicesCLI: the AWS CLI (Debian's 2.9, which
// speaks SQS in the query protocol) with only a client key: DynamoDB
// list-tables, put-item and get-item (AWS JSON 1.0) and SQS list-queues and
// send-message (query), with --endpoint-url at the proxy and through
// HTTPS_PROXY with AWS_CA_BUNDLE the proxy's MITM CA; the stand-in knows
// only the real keys. A wrong secret, an unknown key and a service or
// region --allow-hosts does not name get the AWS error the CLI prints, and
// nothing reaches the stand-in.
func TestClientKeysJSONAndQueryServicesCLI(t *testing.T) {
	t.Parallel() // a heavy test: see doc.go
	tools := needClients(t)
	up := newServicesUpstream(t)
	caCert, caKey := mitmCA(t)
	sc := servicesSidecar(t, up, caCert, caKey)
	for _, setup := range []struct {
		name string
		args []string // before the command
		env  []string
	}{
		{"endpoint at the proxy", []string{"--endpoint-url", sc.url()}, nil},
		{"HTTPS_PROXY", nil, []string{"HTTPS_PROXY=http://" + sc.proxyAddr, "AWS_CA_BUNDLE=" + caCert, "NO_PROXY="}},
	} {
		t.Run(setup.name, func(t *testing.T) {
			cli := func(keyID, secret string, args ...string) ([]byte, error) {
				cmd := exec.Command(tools.aws, append(append(slices.Clone(setup.args), "--output", "json"), args...)...)
				cmd.Env = clientEnv(t, append(withKeys(keyID, secret), setup.env...)...)
				return run(cmd)
			}
			// must runs the CLI and reads its JSON output into v (nil:
			// the CLI prints nothing, as for put-item).
			must := func(v any, args ...string) {
				t.Helper()
				out, err := cli(e2eClientKeyID, e2eClientSecret, args...)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(out, v); v != nil && err != nil {
					t.Fatalf("%s: %v: %s", args, err, out)
				}
				if got := up.last(t); got.keyID != serviceRealKeyID {
					t.Errorf("%s: the stand-in received the key %s, want the real key", args, got.keyID)
				}
			}
			var tables struct{ TableNames []string }
			must(&tables, "dynamodb", "list-tables")
			if !slices.Equal(tables.TableNames, []string{"e2e-table", "e2e-other"}) {
				t.Errorf("list-tables: %q", tables.TableNames)
			}
			if got := up.last(t); got.target != "DynamoDB_20120810.ListTables" {
				t.Errorf("list-tables: the stand-in saw X-Amz-Target %q", got.target)
			}
			id := "cli-" + strings.ReplaceAll(setup.name, " ", "-")
			value := `cli "quoted" & ünïcode through ` + setup.name
			item, _ := json.Marshal(map[string]map[string]string{"id": {"S": id}, "v": {"S": value}})
			key, _ := json.Marshal(map[string]map[string]string{"id": {"S": id}})
			must(nil, "dynamodb", "put-item", "--table-name", "e2e-table", "--item", string(item))
			var got struct{ Item map[string]map[string]string }
			must(&got, "dynamodb", "get-item", "--table-name", "e2e-table", "--key", string(key))
			if got.Item["v"]["S"] != value {
				t.Errorf("get-item: %v, want v = %q", got.Item, value)
			}
			var queues struct{ QueueUrls []string }
			must(&queues, "sqs", "list-queues")
			if !slices.Equal(queues.QueueUrls, []string{"https://sqs.us-east-1.amazonaws.com/123456789012/e2e-queue"}) {
				t.Errorf("list-queues: %q", queues.QueueUrls)
			}
			if got := up.last(t); got.action != "ListQueues" {
				t.Errorf("list-queues: the stand-in saw the query action %q (target %q): not the query protocol", got.action, got.target)
			}
			message := "a=b&c=d+e %20 ünïcode through " + setup.name
			var sent struct{ MD5OfMessageBody, MessageId string }
			must(&sent, "sqs", "send-message", "--queue-url", queues.QueueUrls[0], "--message-body", message)
			if sum := md5.Sum([]byte(message)); sent.MD5OfMessageBody != hex.EncodeToString(sum[:]) || up.lastMessage() != message {
				t.Errorf("send-message: %+v; the stand-in got %q, want %q", sent, up.lastMessage(), message)
			}

			before := up.received()
			// One CLI run each (a run costs the CLI's start-up): JSON
			// and query in turn. Through HTTPS_PROXY a host outside
			// --allow-hosts is refused at the CONNECT, before any TLS.
			type refusal struct {
				name, keyID, secret string
				args                []string
				want                string
			}
			refusals := []refusal{{"wrong secret", e2eClientKeyID, "wrong-secret-wrong-secret", []string{"sqs", "list-queues"}, "SignatureDoesNotMatch"}}
			if setup.args != nil {
				refusals = append(refusals,
					refusal{"wrong secret", e2eClientKeyID, "wrong-secret-wrong-secret", []string{"dynamodb", "list-tables"}, "SignatureDoesNotMatch"},
					refusal{"unknown key", "AKIDE2EUNKNOWNKEY001", e2eClientSecret, []string{"sqs", "list-queues"}, "InvalidClientTokenId"},
					refusal{"service not allowed", e2eClientKeyID, e2eClientSecret, []string{"kinesis", "list-streams"}, "AccessDenied"},
					refusal{"region not allowed", e2eClientKeyID, e2eClientSecret, []string{"sqs", "list-queues", "--region", "us-west-2"}, "AccessDenied"})
			}
			for _, tc := range refusals {
				out, err := cli(tc.keyID, tc.secret, tc.args...)
				if err == nil || !strings.Contains(err.Error(), "An error occurred ("+tc.want+")") {
					t.Errorf("%s, %s: %s %v; want the CLI to print %s", tc.name, tc.args, out, err, tc.want)
				}
			}
			if n := up.received() - before; n != 0 {
				t.Errorf("the stand-in received %d refused requests", n)
			}
		})
	}
	assertNoSecrets(t, sc, e2eClientSecret, serviceRealSecret)
}
