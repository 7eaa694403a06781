//go:build unix

package listen

import (
	"os"
	"syscall"
)

// fileID is the device and inode of a file: a new file put in place by a
// rename (a Secret's ..data swap) has a new one even when its size and
// modification time match the old.
func fileID(st os.FileInfo) (dev, ino uint64) {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Dev), uint64(sys.Ino)
	}
	return 0, 0
}
