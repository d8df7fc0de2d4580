"""CPU time and page faults of this process, as the bench workers report them per measurement."""
import resource


def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt


def cpu_since(before):
    after = usage()
    return {"user": after[0] - before[0], "system": after[1] - before[1], "minorFaults": after[2] - before[2]}
