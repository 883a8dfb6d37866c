// Package docker is drill's only door to the Docker Engine API.
package docker

import _ "github.com/docker/docker/client"
