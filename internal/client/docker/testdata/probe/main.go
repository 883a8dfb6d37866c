// Command probe is the program inside drill's test images: a TCP echo server, and a client that
// reports whether it can reach other containers.
//
//	probe serve [-port 7000]                     echo every line back (the image's default command);
//	                                              log "probe: listening on :PORT"; exit 0 on SIGTERM or SIGINT
//	probe dial [-timeout 1s] host:port...        print "ok host:port RTT" (RTT of the echo, e.g. 1.2ms) or
//	                                              "fail host:port: reason" per target
//	probe hold [-for 3s] [-every 100ms] host:port  connect, then echo every -every for -for; print
//	                                              "held" if every echo came back, else "cut after N echoes: reason"
//
// dial and hold exit 0 when everything succeeded and 1 otherwise.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		os.Args = append(os.Args, "serve")
	}
	var ok bool
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "dial":
		ok = dial(os.Args[2:])
	case "hold":
		ok = hold(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "probe: unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	port := fs.Int("port", 7000, "TCP port to listen on")
	fs.Parse(args)
	// As PID 1 without a handler, SIGTERM would be ignored; a graceful exit 0 lets tests tell
	// a stop (SIGTERM) from a kill (SIGKILL, exit code 137).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sig
		fmt.Printf("probe: stopping on %v\n", s)
		os.Exit(0)
	}()
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	// Tests of the log kinds wait for this line.
	fmt.Printf("probe: listening on :%d\n", *port)
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

// echo sends one line on c and waits for it to come back within timeout.
func echo(c net.Conn, r *bufio.Reader, timeout time.Duration) error {
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return fmt.Errorf("echo returned %q", line)
	}
	return nil
}

func dial(args []string) bool {
	fs := flag.NewFlagSet("dial", flag.ExitOnError)
	timeout := fs.Duration("timeout", time.Second, "connect and echo timeout per target")
	fs.Parse(args)
	// All targets at once, so that a run costs one timeout however many are unreachable.
	lines := make([]string, fs.NArg())
	var wg sync.WaitGroup
	for i, addr := range fs.Args() {
		wg.Go(func() {
			var rtt time.Duration
			err := func() error {
				c, err := net.DialTimeout("tcp", addr, *timeout)
				if err != nil {
					return err
				}
				defer c.Close()
				start := time.Now()
				err = echo(c, bufio.NewReader(c), *timeout)
				rtt = time.Since(start)
				return err
			}()
			if err != nil {
				lines[i] = fmt.Sprintf("fail %s: %v", addr, err)
				return
			}
			lines[i] = fmt.Sprintf("ok %s %v", addr, rtt)
		})
	}
	wg.Wait()
	all := true
	for _, l := range lines {
		fmt.Println(l)
		all = all && strings.HasPrefix(l, "ok ")
	}
	return all
}

func hold(args []string) bool {
	fs := flag.NewFlagSet("hold", flag.ExitOnError)
	total := fs.Duration("for", 3*time.Second, "how long to keep the connection")
	every := fs.Duration("every", 100*time.Millisecond, "interval between echoes")
	fs.Parse(args)
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "probe hold: want exactly one host:port")
		os.Exit(2)
	}
	c, err := net.DialTimeout("tcp", fs.Arg(0), time.Second)
	if err != nil {
		fmt.Printf("fail %s: %v\n", fs.Arg(0), err)
		return false
	}
	defer c.Close()
	r := bufio.NewReader(c)
	end := time.Now().Add(*total)
	for n := 0; time.Now().Before(end); n++ {
		if err := echo(c, r, 5*(*every)+500*time.Millisecond); err != nil {
			fmt.Printf("cut after %d echoes: %v\n", n, err)
			return false
		}
		time.Sleep(*every)
	}
	fmt.Println("held")
	return true
}
