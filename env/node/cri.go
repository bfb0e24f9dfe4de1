package node

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-multierror"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// dial connects to the CRI runtime at socket.
func dial(socket string) (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// Ready asks the runtime at socket whether it serves CRI and its network
// is ready: what the kubelet needs of it.
func Ready(ctx context.Context, socket string) error {
	conn, err := dial(socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := cri.NewRuntimeServiceClient(conn).Status(ctx, &cri.StatusRequest{})
	if err != nil {
		return err
	}
	for _, c := range st.GetStatus().GetConditions() {
		if c.Type == cri.RuntimeReady && !c.Status {
			return fmt.Errorf("runtime not ready: %s %s", c.Reason, c.Message)
		}
	}
	return nil
}

// RemovePods stops and removes every pod sandbox of the runtime at socket,
// so that it tears their networks down (CNI DEL) while it still runs. The
// pods stay in etcd: the kubelet makes them again at the next up.
func RemovePods(ctx context.Context, socket string) error {
	conn, err := dial(socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	rs := cri.NewRuntimeServiceClient(conn)
	list, err := rs.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list the pods: %w", err)
	}
	var errs *multierror.Error
	for _, p := range list.Items {
		if _, err := rs.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("stop pod %s/%s: %w", p.Metadata.GetNamespace(), p.Metadata.GetName(), err))
			continue
		}
		if _, err := rs.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("remove pod %s/%s: %w", p.Metadata.GetNamespace(), p.Metadata.GetName(), err))
		}
	}
	return errs.ErrorOrNil()
}
