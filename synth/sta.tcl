# OpenSTA: timing of the mapped netlist, pin slews for the energy model, and (with power = 1)
# vectorless power. synth/flow.py sources this from run_sta.tcl after setting:
#   top         top module name
#   clock_ns    clock period (ns)
#   clock_port  "clk" for sequential units, "" for combinational ones (then a virtual clock
#               times the input-to-output paths)
#   input_slew  transition at the top-level inputs (ns)
#   power       1: also source activity.tcl (set_power_activity per input port) and report_power
#   sdf_file    "" or the SDF file to write the cell delays to (for the gate-level simulation)
read_liberty cells.lib
read_verilog netlist.v
link_design $top

if {$clock_port ne ""} {
  create_clock -name clk -period $clock_ns [get_ports $clock_port]
  set data_inputs [delete_from_list [all_inputs] [get_ports $clock_port]]
} else {
  create_clock -name clk -period $clock_ns
  set data_inputs [all_inputs]
}
set_input_delay 0 -clock clk $data_inputs
# The reset is not timed: this flow places nothing and so builds no buffered reset tree, and an
# unbuffered rst input fanning out to every flip-flop (hundreds in an array) would otherwise set
# the critical path. rst is held low while energy is measured, so nothing else depends on it.
if {[llength [get_ports -quiet rst]]} {
  set_false_path -from [get_ports rst]
}
set_output_delay 0 -clock clk [all_outputs]
set_input_transition $input_slew [all_inputs]

# The critical path of the whole unit, then each path class of a sequential unit.
puts "=== critical path"
report_checks -path_delay max -digits 4
if {$clock_port ne ""} {
  puts "=== register to register"
  report_checks -path_delay max -digits 4 \
    -from [all_registers -clock_pins] -to [all_registers -data_pins]
  puts "=== input to register"
  report_checks -path_delay max -digits 4 -from $data_inputs -to [all_registers -data_pins]
  puts "=== register to output"
  report_checks -path_delay max -digits 4 -from [all_registers -clock_pins] -to [all_outputs]
}
puts "worst_slack_ns [worst_slack -max]"

# Rise and fall transition at every cell pin: the slews the internal-energy tables are read at.
set f [open slews.txt w]
foreach pin [get_pins */*] {
  puts $f "[get_full_name $pin] [get_property $pin actual_rise_transition_max]\
 [get_property $pin actual_fall_transition_max]"
}
close $f

if {$sdf_file ne ""} {
  write_sdf -digits 4 $sdf_file
}

if {$power} {
  source activity.tcl
  puts "=== vectorless power"
  report_power -digits 6
}
