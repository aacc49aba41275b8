from vm.probes import parse_kconfig


def test_parse_kconfig():
    cfg = parse_kconfig('CONFIG_PSI=y\n# CONFIG_X is not set\nCONFIG_HZ=250\nCONFIG_LOCALVERSION="-x"\n')
    assert cfg == {"CONFIG_PSI": "y", "CONFIG_HZ": "250", "CONFIG_LOCALVERSION": "-x"}
