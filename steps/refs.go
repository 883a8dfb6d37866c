package steps

// Some parameters name the work of another step: patroni.wait_leader's
// fault names a fault step by id, writer.stop's writer and watch.stop's
// watcher name a background task started before. The loader checks them
// once every step is built: the name must exist, come earlier, and be of
// the right kind.

// What a Reference names.
const (
	RefFault   = "fault"   // the id of a fault step
	RefWriter  = "writer"  // the name of a writer.start
	RefWatcher = "watcher" // the name of a watch.* start
	RefReader  = "reader"  // the name of a reader.start
	RefGuard   = "guard"   // the name of a guard.start
)

// Reference is a parameter that names another step's work.
type Reference struct {
	Field string // the parameter, for the error's position
	What  string // RefFault, RefWriter, RefReader, RefWatcher or RefGuard
	Name  string
}

// Referrer is implemented by steps whose parameters name other steps' work.
type Referrer interface {
	References() []Reference
}

// Stopper is implemented by steps that stop a named background task and
// record what it measured (writer.stop, reader.stop, watch.stop,
// guard.stop). When a run stops early (a failed step, a tripped guard, an
// interrupt) the runner still runs each such step whose task is running,
// in its place, so that what the task measured is evaluated and recorded
// for the checks.
type Stopper interface {
	Stops() (what, name string)
}

// Starter is implemented by steps that start a named background task that a
// later step stops: What is RefWriter, RefReader, RefWatcher or RefGuard.
type Starter interface {
	Starts() (what, name string)
}
