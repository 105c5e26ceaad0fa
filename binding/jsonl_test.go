package binding_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
)

func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func openFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(testdata("binding", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestImportCreateCustomerResults(t *testing.T) {
	ctx := context.Background()
	db := openMem(t, nil)
	defer db.Close()
	var progress []int
	rep, err := binding.Import(ctx, db, openFile(t, "import-create-customer.jsonl"), binding.ImportOptions{
		XAccountType: "partner_IDP", Actor: "ops@example", Progress: func(n int) { progress = append(progress, n) }, ProgressEvery: 2,
	})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if rep.Read != 4 || rep.Stored != 4 || rep.Unchanged != 0 || rep.Skipped != 0 || len(rep.Bad) != 0 {
		t.Errorf("report = %+v", rep)
	}
	if !slices.Equal(progress, []int{2, 4}) {
		t.Errorf("progress calls = %v, want [2 4]", progress)
	}
	want := map[binding.Key]binding.Binding{
		{XAccountType: "partner_IDP", XAccountID: "cust-0001"}: {DomainID: "0d2f8a6c1e7b4a3c9f5e6d7c8b9a0f1e", DomainName: "partner_cust1"},
		{XAccountType: "other_IDP", XAccountID: "cust-0002"}:   {DomainID: "5b1e0c9d2a7f4e3b8c6d1a0f9e8d7c6b", DomainName: "partner_cust2"},
		{XAccountType: "partner_IDP", XAccountID: "cust-0003"}: {DomainID: "8c3a1f0e9d2b4c5a7e6f1d0c9b8a7f6e", DomainName: "hw_张三"},
		{XAccountType: "partner_IDP", XAccountID: "cust-0004"}: {DomainID: "1f2e3d4c5b6a79880a9b8c7d6e5f4a3b"},
	}
	for k, w := range want {
		got, err := db.Get(ctx, k)
		if err != nil || got.DomainID != w.DomainID || got.DomainName != w.DomainName || got.Source != binding.SourceImport {
			t.Errorf("Get(%v) = %+v, %v; want domain %s/%q from import", k, got, err, w.DomainID, w.DomainName)
		}
		if h, _ := db.History(ctx, k); len(h) != 1 || h[0].Actor != "ops@example" || h[0].Source != binding.SourceImport {
			t.Errorf("History(%v) = %+v", k, h)
		}
	}
	// Idempotent: the same file again stores nothing.
	rep, err = binding.Import(ctx, db, openFile(t, "import-create-customer.jsonl"), binding.ImportOptions{XAccountType: "partner_IDP"})
	if err != nil || rep.Stored != 0 || rep.Unchanged != 4 {
		t.Errorf("second import: %+v, %v; want 4 unchanged, 0 stored", rep, err)
	}
	if r, err := db.Verify(context.Background()); err != nil || r.History != 4 {
		t.Errorf("Verify after two imports = %+v, %v; want 4 history entries", r, err)
	}
}

var badLines = []int{2, 4, 5, 6, 8, 9, 10}

func TestImportRefusesBadFile(t *testing.T) {
	ctx := context.Background()
	db := openMem(t, nil)
	defer db.Close()
	rep, err := binding.Import(ctx, db, openFile(t, "import-bad.jsonl"), binding.ImportOptions{XAccountType: "partner_IDP"})
	if !errors.Is(err, binding.ErrImport) {
		t.Fatalf("Import of a file with bad lines: err=%v, want ErrImport", err)
	}
	var got []int
	for _, le := range rep.Bad {
		got = append(got, le.Line)
	}
	if !slices.Equal(got, badLines) {
		t.Errorf("bad lines = %v, want %v", got, badLines)
	}
	if !strings.Contains(err.Error(), "2, 4, 5, 6, 8, 9, 10") || !strings.Contains(err.Error(), "nothing was stored") {
		t.Errorf("error does not list the lines and say nothing was stored: %v", err)
	}
	if n, _ := db.Count(ctx); n != 0 || rep.Stored != 0 {
		t.Errorf("a refused import stored %d bindings (report %d)", n, rep.Stored)
	}
	if h, _ := db.History(ctx, binding.Key{XAccountType: "partner_IDP", XAccountID: "good-1"}); len(h) != 0 {
		t.Errorf("a refused import wrote history: %v", h)
	}
	// What each bad line says.
	wantKinds := map[int]error{2: binding.ErrImportLine, 4: binding.ErrImportLine, 5: binding.ErrImportLine, 6: binding.ErrImportLine, 8: binding.ErrInvalid, 9: binding.ErrImportLine, 10: binding.ErrInvalid}
	for _, le := range rep.Bad {
		if !errors.Is(le, wantKinds[le.Line]) {
			t.Errorf("line %d: %v; want it to wrap %v", le.Line, le.Err, wantKinds[le.Line])
		}
	}
}

func TestImportSkipBad(t *testing.T) {
	ctx := context.Background()
	db := openMem(t, nil)
	defer db.Close()
	rep, err := binding.Import(ctx, db, openFile(t, "import-bad.jsonl"), binding.ImportOptions{XAccountType: "partner_IDP", SkipBad: true})
	if err != nil {
		t.Fatalf("Import with SkipBad: %v", err)
	}
	if rep.Read != 10 || rep.Stored != 3 || rep.Skipped != 7 || len(rep.Bad) != 7 {
		t.Errorf("report = %+v", rep)
	}
	var ids []string
	db.List(ctx, binding.Key{}, func(b binding.Binding) error { ids = append(ids, b.XAccountID+"="+b.DomainID); return nil })
	if !slices.Equal(ids, []string{"good-1=d1", "good-2=d2", "good-3=d3"}) {
		t.Errorf("stored %v", ids)
	}
}

func TestImportLinesAndOptions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		input   string
		opts    binding.ImportOptions
		stored  int
		bad     []int
		wantErr error
	}{
		{name: "type missing, no default", input: `{"xaccount_id":"a","domain_id":"d"}`, bad: []int{1}, wantErr: binding.ErrImport},
		{name: "line type wins over default", input: `{"xaccount_type":"x_IDP","xaccount_id":"a","domain_id":"d"}`, opts: binding.ImportOptions{XAccountType: "y_IDP"}, stored: 1},
		{name: "BOM, CRLF and blank lines", input: "\ufeff{\"xaccount_id\":\"a\",\"domain_id\":\"d\"}\r\n\r\n  \n{\"xaccount_id\":\"b\",\"domain_id\":\"d\"}", opts: binding.ImportOptions{XAccountType: "t"}, stored: 2},
		{name: "repeated line counts once", input: "{\"xaccount_id\":\"a\",\"domain_id\":\"d\"}\n{\"xaccount_id\":\"a\",\"domain_id\":\"d\"}\n", opts: binding.ImportOptions{XAccountType: "t"}, stored: 1},
		{name: "conflicting repeat is bad", input: "{\"xaccount_id\":\"a\",\"domain_id\":\"d\"}\n\n{\"xaccount_id\":\"a\",\"domain_id\":\"e\"}\n", opts: binding.ImportOptions{XAccountType: "t"}, bad: []int{3}, wantErr: binding.ErrImport},
		{name: "overlong line", input: "{\"xaccount_id\":\"a\",\"domain_id\":\"d\",\"pad\":\"" + strings.Repeat("x", binding.MaxImportLineLen) + "\"}\n{\"xaccount_id\":\"b\",\"domain_id\":\"d\"}", opts: binding.ImportOptions{XAccountType: "t", SkipBad: true}, stored: 1, bad: []int{1}},
		{name: "overlong last line", input: "{\"xaccount_id\":\"b\",\"domain_id\":\"d\"}\n" + strings.Repeat("x", 2*binding.MaxImportLineLen), opts: binding.ImportOptions{XAccountType: "t", SkipBad: true}, stored: 1, bad: []int{2}},
		{name: "duplicate member", input: `{"xaccount_id":"a","xaccount_id":"b","domain_id":"d"}`, opts: binding.ImportOptions{XAccountType: "t"}, bad: []int{1}, wantErr: binding.ErrImport},
		{name: "empty file", input: "", stored: 0},
		{name: "bad default type", input: `{"xaccount_id":"a","domain_id":"d"}`, opts: binding.ImportOptions{XAccountType: "a\tb"}, wantErr: binding.ErrInvalid},
		{name: "bad source", input: `{"xaccount_id":"a","domain_id":"d"}`, opts: binding.ImportOptions{XAccountType: "t", Source: "elsewhere"}, wantErr: binding.ErrInvalid},
		{name: "bad actor", input: `{"xaccount_id":"a","domain_id":"d"}`, opts: binding.ImportOptions{XAccountType: "t", Actor: "a\nb"}, wantErr: binding.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openMem(t, nil)
			defer db.Close()
			rep, err := binding.Import(ctx, db, strings.NewReader(tc.input), tc.opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("err = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Import: %v", err)
			}
			var bad []int
			for _, le := range rep.Bad {
				bad = append(bad, le.Line)
			}
			if !slices.Equal(bad, tc.bad) {
				t.Errorf("bad lines %v, want %v (%v)", bad, tc.bad, rep.Bad)
			}
			n, _ := db.Count(ctx)
			if n != tc.stored || rep.Stored != tc.stored {
				t.Errorf("stored %d (report %+v), want %d", n, rep, tc.stored)
			}
			if err == nil && rep.Read != rep.Stored+rep.Unchanged+rep.Skipped {
				t.Errorf("report does not add up: %+v", rep)
			}
		})
	}
}

func TestImportCancelled(t *testing.T) {
	db := openMem(t, nil)
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := binding.Import(ctx, db, strings.NewReader(`{"xaccount_id":"a","domain_id":"d"}`), binding.ImportOptions{XAccountType: "t"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n, _ := db.Count(context.Background()); n != 0 {
		t.Errorf("cancelled import stored %d", n)
	}
}

// Import progress with enough lines for several Batch groups and callbacks
// (without fsync: this is about counting, and a busy disk would make it slow).
func TestImportManyProgress(t *testing.T) {
	ctx := context.Background()
	db := openMem(t, nil)
	defer db.Close()
	var in strings.Builder
	for i := range 1200 {
		in.WriteString(`{"xaccount_id":"u` + strconv.Itoa(i) + `","domain_id":"d` + strconv.Itoa(i%10) + `"}` + "\n")
	}
	var calls []int
	rep, err := binding.Import(ctx, db, strings.NewReader(in.String()), binding.ImportOptions{XAccountType: "t", ProgressEvery: 500, Progress: func(n int) { calls = append(calls, n) }})
	if err != nil || rep.Stored != 1200 {
		t.Fatalf("Import = %+v, %v", rep, err)
	}
	if !slices.Equal(calls, []int{500, 1000, 1200}) {
		t.Errorf("progress = %v, want [500 1000 1200]", calls)
	}
	if _, err := db.Verify(context.Background()); err != nil {
		t.Error(err)
	}
}

// Export writes JSON Lines in key order (golden file, fixed clock) and
// Import reads them back into another store.
func TestExportGoldenAndRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openMem(t, fixedClock())
	defer src.Close()
	if _, err := binding.Import(ctx, src, openFile(t, "import-create-customer.jsonl"), binding.ImportOptions{XAccountType: "partner_IDP", Workers: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := binding.Put(ctx, src, binding.Binding{Key: binding.Key{XAccountType: "partner_IDP", XAccountID: "via-notification"}, DomainID: "dn", DomainName: "hw", Source: binding.SourceNotification}, "huawei", nil); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := binding.Export(ctx, src, &out)
	if err != nil || n != 5 {
		t.Fatalf("Export = %d, %v", n, err)
	}
	golden := testdata("binding", "export.golden.jsonl")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("Export differs from %s (run with -update if intended):\n%s", golden, out.String())
	}

	dst := openMem(t, nil)
	defer dst.Close()
	rep, err := binding.Import(ctx, dst, bytes.NewReader(want), binding.ImportOptions{})
	if err != nil || rep.Stored != 5 {
		t.Fatalf("re-import of the export = %+v, %v", rep, err)
	}
	var a, b []string
	src.List(ctx, binding.Key{}, func(x binding.Binding) error {
		a = append(a, x.XAccountType+"/"+x.XAccountID+"="+x.DomainID+"/"+x.DomainName)
		return nil
	})
	dst.List(ctx, binding.Key{}, func(x binding.Binding) error {
		b = append(b, x.XAccountType+"/"+x.XAccountID+"="+x.DomainID+"/"+x.DomainName)
		return nil
	})
	if !slices.Equal(a, b) {
		t.Errorf("round trip changed the bindings:\n%v\n%v", a, b)
	}
}
