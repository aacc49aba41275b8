"""Accelerator choice is made from evidence, not from /dev/kvm existing."""

from vm import accel


def cpuinfo(tmp_path, flags):
    p = tmp_path / "cpuinfo"
    p.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {flags}\n")
    return str(p)


def test_pvm_host_without_vmx_gets_tcg(tmp_path):
    dev = tmp_path / "kvm"
    dev.write_text("")
    a = accel.choose(cpuinfo_path=cpuinfo(tmp_path, "hypervisor"), kvm_dev=str(dev))
    assert a.name == "tcg" and "vmx/svm" in a.reason


def test_missing_device_gets_tcg(tmp_path):
    a = accel.choose(cpuinfo_path=cpuinfo(tmp_path, "vmx"), kvm_dev=str(tmp_path / "nope"))
    assert a.name == "tcg" and "not accessible" in a.reason


def test_vmx_and_device_without_probe_image_gets_kvm(tmp_path):
    dev = tmp_path / "kvm"
    dev.write_text("")
    assert accel.choose(cpuinfo_path=cpuinfo(tmp_path, "vmx"), kvm_dev=str(dev)).name == "kvm"


def test_forced(monkeypatch):
    monkeypatch.setenv("IOWITNESS_ACCEL", "tcg")
    assert accel.choose().name == "tcg"


def test_this_machine_decides_by_its_cpu_flags():
    # A PVM host (module kvm_pvm) without vmx/svm: KVM hangs stock kernels there.
    flags = open("/proc/cpuinfo").read()
    expected = "tcg" if (" vmx" not in flags and " svm" not in flags) else None
    if expected:
        assert accel.choose(forced=None).name == expected
