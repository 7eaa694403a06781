package listen

import (
	"strings"
	"testing"
)

func TestParseClientKeys(t *testing.T) {
	const secretA, secretB = "secretAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "secret/BBBB+BBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	good := "# app keys\n\nAKIDAPPA000000000001 " + secretA + " app-a\n\tAKIDAPPB000000000001\t" + secretB + "\tapp-b\nAKIDAPPA000000000002 " + secretB + " app-a\n"
	keys, err := ParseClientKeys("keys", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string][2]string{
		"AKIDAPPA000000000001": {secretA, "app-a"},
		"AKIDAPPB000000000001": {secretB, "app-b"},
		"AKIDAPPA000000000002": {secretB, "app-a"}, // a second key of the same app, as when rotating
	} {
		if secret, name, ok := keys.Lookup(id); !ok || secret != want[0] || name != want[1] {
			t.Errorf("Lookup(%s) = %q, %v; want %s", id, name, ok, want[1])
		}
	}
	if _, _, ok := keys.Lookup("AKIDAPPC000000000001"); ok {
		t.Error("Lookup found a key the file does not hold")
	}

	for _, tc := range []struct{ name, file, want string }{
		{"two fields", "AKIDAPPA000000000001 " + secretA + "\n", "keys line 1: want ACCESS_KEY_ID SECRET_ACCESS_KEY NAME, found 2 fields"},
		{"short id", "AKID " + secretA + " a\n", "keys line 1: ACCESS_KEY_ID must be 16 to 128 letters and digits"},
		{"id with a slash", "AKIDAPPA00000/000001 " + secretA + " a\n", "ACCESS_KEY_ID must be"},
		{"short secret", "# c\nAKIDAPPA000000000001 short a\n", "keys line 2: SECRET_ACCESS_KEY must be 16 to 128 characters, found 5"},
		{"bad name", "AKIDAPPA000000000001 " + secretA + " a=b\n", "keys line 1: NAME may hold"},
		{"duplicate id", "AKIDAPPA000000000001 " + secretA + " a\nAKIDAPPA000000000001 " + secretB + " b\n", "keys line 2: access key id AKIDAPPA000000000001 is already on line 1"},
		{"empty", "# none yet\n", "keys: holds no key line"},
	} {
		_, err := ParseClientKeys("keys", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), secretA) || strings.Contains(err.Error(), secretB) || strings.Contains(err.Error(), "short")) {
			t.Errorf("%s: the error quotes a secret: %v", tc.name, err)
		}
	}
}

// FuzzParseClientKeys: whatever the file holds, the parser does not panic,
// a key it takes can be looked up under its line's name, and an error never
// quotes a line's second field (a secret).
func FuzzParseClientKeys(f *testing.F) {
	f.Add("AKIDAPPA000000000001 secretAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA app-a\n")
	f.Add("# c\n\nAKIDAPPA000000000001\tsecret/BBBB+BBBBBBBBBBB\tapp-b\nAKIDAPPA000000000001 secret/BBBB+BBBBBBBBBBB app-c\n")
	f.Add("AKID short a=b\n")
	f.Fuzz(func(t *testing.T, file string) {
		keys, err := ParseClientKeys("keys", []byte(file))
		if err != nil {
			for _, line := range strings.Split(file, "\n") {
				if fields := strings.Fields(line); len(fields) == 3 && len(fields[1]) >= 8 && strings.Contains(err.Error(), fields[1]) && !strings.Contains(fields[0], fields[1]) && !strings.Contains(fields[2], fields[1]) {
					t.Fatalf("the error quotes a secret: %v", err)
				}
			}
			return
		}
		for _, line := range strings.Split(file, "\n") {
			fields := strings.Fields(line)
			if len(fields) != 3 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			if secret, name, ok := keys.Lookup(fields[0]); !ok || secret != fields[1] || name != fields[2] {
				t.Fatalf("line %q: Lookup = %q, %v", line, name, ok)
			}
		}
	})
}
