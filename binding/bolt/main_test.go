package bolt_test

import (
	"os"
	"sync"
	"testing"
)

// childEnv switches the test binary into a helper process for the tests
// that need a second process (durability under SIGKILL, file locking).
const childEnv = "PARTNERIDP_BINDING_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
	case "writer":
		os.Exit(runWriterChild())
	case "holder":
		os.Exit(runHolderChild())
	default:
		os.Stderr.WriteString("unknown " + childEnv + "\n")
		os.Exit(2)
	}
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

var shared struct {
	once sync.Once
	dir  string
}

// sharedTempDir is a directory that outlives one benchmark run (the Go
// benchmark harness calls a benchmark several times); TestMain removes it.
func sharedTempDir() string {
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "partneridp-binding-")
		if err != nil {
			panic(err)
		}
		shared.dir = dir
	})
	return shared.dir
}
