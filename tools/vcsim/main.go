// Command vcsim serves VMware's vCenter API simulator (govmomi's simulator package) on one
// address, for the vSphere driver's integration tests. It prints the URL it listens on, then
// runs until it is killed.
//
// One gap of govmomi 0.24's simulator is filled here: ReconfigureComputeResource_Task keeps
// the cluster-wide HA (dasConfig) and DRS (drsConfig) settings it is given, as vCenter does;
// the stock simulator stores only rules, groups and per-VM overrides.
package main

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// keepClusterSettings applies the HA and DRS settings of a cluster reconfiguration before the
// simulator handles the rest of it. (Wrapping the cluster object instead does not work: the
// simulator type-switches on *ClusterComputeResource in many places.)
func keepClusterSettings(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		method, err := simulator.UnmarshalBody(types.TypeFunc(), body)
		if err != nil || method.Name != "ReconfigureComputeResource_Task" {
			next.ServeHTTP(w, r)
			return
		}
		req := method.Body.(*types.ReconfigureComputeResource_Task)
		spec, ok := req.Spec.(*types.ClusterConfigSpecEx)
		cluster, isCluster := simulator.Map.Get(method.This).(*simulator.ClusterComputeResource)
		if ok && isCluster {
			simulator.Map.WithLock(cluster, func() {
				config := cluster.ConfigurationEx.(*types.ClusterConfigInfoEx)
				if das := spec.DasConfig; das != nil {
					if das.Enabled != nil {
						config.DasConfig.Enabled = das.Enabled
					}
					if das.HostMonitoring != "" {
						config.DasConfig.HostMonitoring = das.HostMonitoring
					}
					if das.AdmissionControlEnabled != nil {
						config.DasConfig.AdmissionControlEnabled = das.AdmissionControlEnabled
					}
				}
				if drs := spec.DrsConfig; drs != nil {
					if drs.Enabled != nil {
						config.DrsConfig.Enabled = drs.Enabled
					}
					if drs.DefaultVmBehavior != "" {
						config.DrsConfig.DefaultVmBehavior = drs.DefaultVmBehavior
					}
				}
			})
		}
		next.ServeHTTP(w, r)
	})
}

func main() {
	listen := flag.String("l", "127.0.0.1:8989", "address to listen on")
	hosts := flag.Int("host", 2, "standalone hosts per datacenter")
	clusterHosts := flag.Int("cluster-host", 3, "hosts per cluster")
	username := flag.String("username", "", "the only user name accepted (default: any)")
	password := flag.String("password", "", "the only password accepted (with -username)")
	certFile := flag.String("tls-cert", "", "serve HTTPS with this PEM certificate (and -tls-key)")
	keyFile := flag.String("tls-key", "", "the PEM private key of -tls-cert")
	flag.Parse()

	model := simulator.VPX()
	model.Host = *hosts
	model.ClusterHost = *clusterHosts
	defer model.Remove()
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	// Plain HTTP unless a certificate is given.
	model.Service.Listen = &url.URL{Host: *listen}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if *username != "" {
		// With a user in the listen URL the simulator accepts that login only, so tests can
		// see refused credentials.
		model.Service.Listen.User = url.UserPassword(*username, *password)
	}
	server := model.Service.NewServer()
	defer server.Close()
	// No request has been served yet: the handler is swapped before anyone knows the URL.
	server.Config.Handler = keepClusterSettings(server.Config.Handler)
	fmt.Println(server.URL.String())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
}
