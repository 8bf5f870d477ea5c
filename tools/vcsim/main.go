// Command vcsim serves VMware's vCenter API simulator (govmomi's simulator package) on one
// address, for the vSphere driver's integration tests. It prints the URL it listens on, then
// runs until it is killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("l", "127.0.0.1:8989", "address to listen on")
	hosts := flag.Int("host", 2, "standalone hosts per datacenter")
	clusterHosts := flag.Int("cluster-host", 3, "hosts per cluster")
	flag.Parse()

	model := simulator.VPX()
	model.Host = *hosts
	model.ClusterHost = *clusterHosts
	defer model.Remove()
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	// Plain HTTP (TLS stays nil): the tests connect on loopback only.
	model.Service.Listen = &url.URL{Host: *listen}
	server := model.Service.NewServer()
	defer server.Close()
	fmt.Println(server.URL.String())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
}
