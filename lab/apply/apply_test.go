package apply

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hagen/hagen/lab/agent"
	hb "github.com/hagen/hagen/render/bundle"
)

// fakeHost records the commands it runs; down makes every Exec fail as an
// agent that does not answer does.
type fakeHost struct {
	ran  []string
	down bool
}

func (h *fakeHost) Exec(a agent.ExecArgs) (*agent.ExecReply, error) {
	if h.down {
		return nil, errors.New("connection refused")
	}
	h.ran = append(h.ran, a.Argv[len(a.Argv)-1])
	return &agent.ExecReply{}, nil
}

func (h *fakeHost) WriteFile(agent.FileArgs) error { return nil }

type noOperator struct{}

func (noOperator) Act(context.Context, hb.Step) error { return errors.New("no operator") }

// An optional step passes by a host that is gone or does not answer, and
// says so; it runs on the others.
func TestOptionalStepSkipsHostsThatAreGone(t *testing.T) {
	up, down := &fakeHost{}, &fakeHost{down: true}
	r := &Runner{
		Steps:    []hb.Step{{Name: "retire-m1", Hosts: []string{"m0", "m1", "m2"}, Commands: []string{"kubeadm reset -f"}, Optional: true}},
		Hosts:    map[string]Host{"m0": up, "m1": down},
		Operator: noOperator{},
		Timeouts: DefaultTimeouts,
	}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res[0].Skipped, []string{"m1", "m2"}) {
		t.Errorf("skipped %v, want m1 (down) and m2 (gone)", res[0].Skipped)
	}
	if !slices.Contains(up.ran, "kubeadm reset -f") {
		t.Errorf("m0 ran %v, want the step's command", up.ran)
	}
}

// A required step is never skipped: a host it names that the lab no
// longer has fails it, with a finding that names the host.
func TestRequiredStepOnAHostThatIsGoneFails(t *testing.T) {
	r := &Runner{
		Steps:    []hb.Step{{Name: "remove-node-m2", Hosts: []string{"m2"}, Commands: []string{"kubectl delete node m2"}}},
		Hosts:    map[string]Host{"m0": &fakeHost{}},
		Operator: noOperator{},
		Timeouts: DefaultTimeouts,
	}
	_, err := r.Run(context.Background())
	var f *Failure
	if !errors.As(err, &f) || f.Step != "remove-node-m2" || f.Host != "m2" || f.Finding == "" {
		t.Fatalf("got %v, want a finding about remove-node-m2 on m2", err)
	}
}

// Watch sees every step that succeeded, and its error fails the step.
func TestWatchFailsTheStep(t *testing.T) {
	var seen []string
	r := &Runner{
		Steps:    []hb.Step{{Name: "a", Hosts: []string{"m0"}, Commands: []string{"true"}}, {Name: "b", Hosts: []string{"m0"}, Commands: []string{"true"}}, {Name: "c", Hosts: []string{"m0"}, Commands: []string{"true"}}},
		Hosts:    map[string]Host{"m0": &fakeHost{}},
		Operator: noOperator{},
		Timeouts: DefaultTimeouts,
		Watch: func(_ context.Context, s hb.Step) error {
			seen = append(seen, s.Name)
			if s.Name == "b" {
				return &Failure{Step: "b", Host: "m0", Finding: "etcd still lists m3"}
			}
			return nil
		},
	}
	res, err := r.Run(context.Background())
	if err == nil || err.Error() != "step b: etcd still lists m3" {
		t.Fatalf("got %v, want the watch's finding", err)
	}
	if !slices.Equal(seen, []string{"a", "b"}) || len(res) != 2 {
		t.Errorf("watched %v, ran %d steps; want a and b, and nothing after the failure", seen, len(res))
	}
}
