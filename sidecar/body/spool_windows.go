package body

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/windows"
)

// createSpoolFile creates a temporary file in dir (the system's when empty)
// that no path outlives. Go opens files without FILE_SHARE_DELETE, so the
// Unix way (os.Remove while open) fails here. Instead the file is created
// with FILE_FLAG_DELETE_ON_CLOSE, so Windows deletes it when its handle
// closes, or when the process ends, however it ends; and its name is
// removed at once with a POSIX-semantics delete on that handle (Windows 10
// 1607 and later, on NTFS). Where that delete is not supported (older
// Windows, FAT) the name stays listed in dir until the spool is closed.
func createSpoolFile(dir string) (*os.File, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	const flags = os.O_RDWR | os.O_CREATE | os.O_EXCL | windows.O_FILE_FLAG_DELETE_ON_CLOSE
	for range 10000 {
		name := filepath.Join(dir, "sigv4-sidecar-body-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, flags, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// FILE_DISPOSITION_INFO_EX is one DWORD of flags. An error leaves
		// the delete on close in force.
		disposition := uint32(windows.FILE_DISPOSITION_DELETE | windows.FILE_DISPOSITION_POSIX_SEMANTICS)
		_ = windows.SetFileInformationByHandle(windows.Handle(f.Fd()), windows.FileDispositionInfoEx,
			(*byte)(unsafe.Pointer(&disposition)), uint32(unsafe.Sizeof(disposition)))
		return f, nil
	}
	return nil, &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, "sigv4-sidecar-body-*"), Err: fs.ErrExist}
}
