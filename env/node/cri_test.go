package node

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runtimeService is a CRI runtime's RuntimeService as far as Ready and
// RemovePods use it.
type runtimeService struct {
	cri.UnimplementedRuntimeServiceServer
	conditions []*cri.RuntimeCondition
	statusErr  error

	mu      sync.Mutex
	pods    []*cri.PodSandbox
	listErr error
	// stopErr fails the stop of these pods.
	stopErr []string
	stopped []string
	removed []string
}

func (s *runtimeService) Status(context.Context, *cri.StatusRequest) (*cri.StatusResponse, error) {
	if s.statusErr != nil {
		return nil, s.statusErr
	}
	return &cri.StatusResponse{Status: &cri.RuntimeStatus{Conditions: s.conditions}}, nil
}

func (s *runtimeService) ListPodSandbox(context.Context, *cri.ListPodSandboxRequest) (*cri.ListPodSandboxResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &cri.ListPodSandboxResponse{Items: s.pods}, s.listErr
}

func (s *runtimeService) StopPodSandbox(_ context.Context, r *cri.StopPodSandboxRequest) (*cri.StopPodSandboxResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.stopErr, r.PodSandboxId) {
		return nil, status.Error(codes.Internal, "CNI DEL failed")
	}
	s.stopped = append(s.stopped, r.PodSandboxId)
	return &cri.StopPodSandboxResponse{}, nil
}

func (s *runtimeService) RemovePodSandbox(_ context.Context, r *cri.RemovePodSandboxRequest) (*cri.RemovePodSandboxResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removed = append(s.removed, r.PodSandboxId)
	return &cri.RemovePodSandboxResponse{}, nil
}

// serveCRI serves s on a new unix socket and returns its path.
func serveCRI(t *testing.T, s *runtimeService) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "containerd.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	cri.RegisterRuntimeServiceServer(srv, s)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return socket
}

func TestReady(t *testing.T) {
	ready := &cri.RuntimeCondition{Type: cri.RuntimeReady, Status: true}
	tests := []struct {
		name    string
		service *runtimeService
		// want is in the error; empty when ready.
		want string
	}{
		{"ready", &runtimeService{conditions: []*cri.RuntimeCondition{ready}}, ""},
		{"not ready", &runtimeService{conditions: []*cri.RuntimeCondition{
			{Type: cri.RuntimeReady, Status: false, Reason: "NotStarted", Message: "the plugins are loading"},
		}}, "runtime not ready: NotStarted the plugins are loading"},
		{"no CRI", &runtimeService{statusErr: status.Error(codes.Unimplemented, "unknown service runtime.v1.RuntimeService")}, "unknown service runtime.v1.RuntimeService"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Ready(context.Background(), serveCRI(t, tt.service))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Ready = %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Ready = %v, want an error with %q", err, tt.want)
			}
		})
	}

	if err := Ready(context.Background(), filepath.Join(t.TempDir(), "none.sock")); err == nil {
		t.Errorf("a runtime that does not run is ready")
	}
}

func pod(id, namespace, name string) *cri.PodSandbox {
	return &cri.PodSandbox{Id: id, Metadata: &cri.PodSandboxMetadata{Namespace: namespace, Name: name}}
}

func TestRemovePods(t *testing.T) {
	pods := []*cri.PodSandbox{pod("p1", "kube-system", "coredns"), pod("p2", "default", "web"), pod("p3", "default", "db")}
	tests := []struct {
		name             string
		service          *runtimeService
		stopped, removed []string
		// want are in the error; none when all went.
		want []string
	}{
		{"no pods", &runtimeService{}, nil, nil, nil},
		{"all pods", &runtimeService{pods: pods}, []string{"p1", "p2", "p3"}, []string{"p1", "p2", "p3"}, nil},
		{
			"two stops fail, the other pod goes",
			&runtimeService{pods: pods, stopErr: []string{"p1", "p2"}},
			[]string{"p3"}, []string{"p3"},
			[]string{"stop pod kube-system/coredns: ", "stop pod default/web: ", "CNI DEL failed"},
		},
		{"the list fails", &runtimeService{pods: pods, listErr: errors.New("runtime busy")}, nil, nil, []string{"list the pods: ", "runtime busy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := RemovePods(context.Background(), serveCRI(t, tt.service))
			if len(tt.want) == 0 && err != nil {
				t.Errorf("RemovePods = %v", err)
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("RemovePods = %v, want an error with %q", err, w)
				}
			}
			tt.service.mu.Lock()
			defer tt.service.mu.Unlock()
			if !slices.Equal(tt.service.stopped, tt.stopped) || !slices.Equal(tt.service.removed, tt.removed) {
				t.Errorf("stopped %v and removed %v, want %v and %v", tt.service.stopped, tt.service.removed, tt.stopped, tt.removed)
			}
		})
	}
}
