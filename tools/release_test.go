package tools

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

const module = "github.com/sigv4-sidecar/sigv4-sidecar"

// TestRelease runs `make release` into a temporary directory, as a release
// is made, and checks what it wrote: one binary per platform, each of the
// right format and architecture, static where it runs on distroless or
// scratch (linux), stripped, without local paths and stamped with the
// version; SHA256SUMS matching every other file; and a CycloneDX SBOM of the
// module naming the module and its dependencies.
//
// RELEASE_CHECK_PLATFORMS (space-separated os/arch) narrows the release to
// those platforms: `make test` checks one binary of each format and one
// arm64, compiled from the packages its cross step already built, and
// `make release` itself still builds all six.
func TestRelease(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dist := t.TempDir()
	const version = "v0.0.0-releasetest"
	platforms := []struct{ os, arch string }{
		{"linux", "amd64"}, {"linux", "arm64"},
		{"darwin", "amd64"}, {"darwin", "arm64"},
		{"windows", "amd64"}, {"windows", "arm64"},
	}
	args := []string{"--no-print-directory", "release", "DIST=" + dist, "VERSION=" + version}
	if only := strings.Fields(os.Getenv("RELEASE_CHECK_PLATFORMS")); len(only) > 0 {
		platforms = platforms[:0]
		for _, p := range only {
			goos, arch, ok := strings.Cut(p, "/")
			if !ok || !slices.Contains([]string{"linux", "darwin", "windows"}, goos) || !slices.Contains([]string{"amd64", "arm64"}, arch) {
				t.Fatalf("RELEASE_CHECK_PLATFORMS names %q: want os/arch, os linux, darwin or windows, arch amd64 or arm64", p)
			}
			platforms = append(platforms, struct{ os, arch string }{goos, arch})
		}
		t.Logf("checking a release of %s only (RELEASE_CHECK_PLATFORMS); make release builds all six", strings.Join(only, " "))
		args = append(args, "PLATFORMS="+strings.Join(only, " "))
	}
	make := exec.Command("make", args...)
	make.Dir = root
	// make's lines go straight out, so a slow or stuck build shows where it is.
	make.Stdout, make.Stderr = os.Stderr, os.Stderr
	if err := make.Run(); err != nil {
		t.Fatalf("make release: %v", err)
	}

	want := []string{"SHA256SUMS", "sigv4-sidecar-" + version + ".cdx.json"}
	for _, p := range platforms {
		name := "sigv4-sidecar-" + version + "-" + p.os + "-" + p.arch
		if p.os == "windows" {
			name += ".exe"
		}
		want = append(want, name)
		t.Run(p.os+"-"+p.arch, func(t *testing.T) {
			path := filepath.Join(dist, name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte(root)) {
				t.Errorf("%s holds the build directory %s: not built with -trimpath", name, root)
			}
			switch p.os {
			case "linux":
				checkELF(t, path, p.arch)
			case "darwin":
				checkMachO(t, path, p.arch)
			case "windows":
				checkPE(t, path, p.arch)
			}
			if p.os == runtime.GOOS && p.arch == runtime.GOARCH {
				checkStamp(t, path, version, p.os+"/"+p.arch)
			}
		})
	}

	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", dist, got, want)
	}
	checkSums(t, dist, want)
	checkSBOM(t, filepath.Join(dist, "sigv4-sidecar-"+version+".cdx.json"))
}

func checkELF(t *testing.T, path, arch string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("not ELF: %v", err)
	}
	defer f.Close()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Errorf("ELF %v %v, want %v executable", f.Machine, f.Type, machine)
	}
	// Static: no program interpreter (ld.so) and no dynamic section, so
	// it runs on distroless/static or scratch, with no libc.
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			t.Errorf("dynamically linked: has %v", prog.Type)
		}
	}
	if f.Section(".dynamic") != nil || f.Section(".interp") != nil {
		t.Error("dynamically linked: has a .dynamic or .interp section")
	}
	if f.Section(".symtab") != nil {
		t.Error("not stripped: has .symtab (-ldflags -s)")
	}
}

func checkMachO(t *testing.T, path, arch string) {
	t.Helper()
	f, err := macho.Open(path)
	if err != nil {
		t.Fatalf("not Mach-O: %v", err)
	}
	defer f.Close()
	cpu := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[arch]
	if f.Cpu != cpu || f.Type != macho.TypeExec {
		t.Errorf("Mach-O %v type %v, want %v executable", f.Cpu, f.Type, cpu)
	}
}

func checkPE(t *testing.T, path, arch string) {
	t.Helper()
	f, err := pe.Open(path)
	if err != nil {
		t.Fatalf("not PE: %v", err)
	}
	defer f.Close()
	machine := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[arch]
	if f.Machine != machine || f.Characteristics&pe.IMAGE_FILE_EXECUTABLE_IMAGE == 0 {
		t.Errorf("PE machine %#x characteristics %#x, want %#x executable", f.Machine, f.Characteristics, machine)
	}
	if oh, ok := f.OptionalHeader.(*pe.OptionalHeader64); !ok || oh.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_CUI {
		t.Errorf("PE optional header %T, want a 64-bit console program", f.OptionalHeader)
	}
}

// checkStamp runs the binary built for this machine: it must report the
// version make stamped into it.
func checkStamp(t *testing.T, path, version, platform string) {
	t.Helper()
	out, err := exec.Command(path, "version", "--json").Output()
	if err != nil {
		t.Fatalf("version --json: %v", err)
	}
	var v struct{ Version, Platform, Module string }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("version --json: %v\n%s", err, out)
	}
	if v.Version != version || v.Platform != platform || v.Module != module {
		t.Errorf("version --json says %+v, want %s %s %s", v, version, platform, module)
	}
}

// checkSums: SHA256SUMS has one line per other file, in sha256sum's format,
// each with the file's digest.
func checkSums(t *testing.T, dist string, files []string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var listed []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not `digest  name`", sc.Text())
		}
		data, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatalf("SHA256SUMS lists %s: %v", name, err)
		}
		if d := sha256.Sum256(data); hex.EncodeToString(d[:]) != sum {
			t.Errorf("SHA256SUMS: %s is %x, listed as %s", name, d, sum)
		}
		listed = append(listed, name)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	others := slices.DeleteFunc(slices.Clone(files), func(n string) bool { return n == "SHA256SUMS" })
	slices.Sort(listed)
	if !slices.Equal(listed, others) {
		t.Errorf("SHA256SUMS lists %v, want %v", listed, others)
	}
}

// checkSBOM: the SBOM is CycloneDX JSON whose subject is the module, and it
// lists a dependency the command links.
func checkSBOM(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(f, cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatalf("SBOM is not CycloneDX JSON: %v", err)
	}
	if bom.BOMFormat != cdx.BOMFormat {
		t.Errorf("SBOM bomFormat %q", bom.BOMFormat)
	}
	if bom.Metadata == nil || bom.Metadata.Component == nil || !strings.HasPrefix(bom.Metadata.Component.PackageURL, "pkg:golang/"+module) {
		t.Fatalf("SBOM subject is not %s: %+v", module, bom.Metadata)
	}
	if bom.Components == nil || !slices.ContainsFunc(*bom.Components, func(c cdx.Component) bool {
		return strings.HasPrefix(c.PackageURL, "pkg:golang/github.com/aws/aws-sdk-go-v2@")
	}) {
		t.Error("SBOM does not list github.com/aws/aws-sdk-go-v2")
	}
}
