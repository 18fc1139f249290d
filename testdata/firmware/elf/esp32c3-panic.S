/*
 * A small RISC-V (RV32IMC) program laid out at the ESP32-C3's flash-mapped
 * instruction address (0x42000020), with the function names of an ESP-IDF
 * app's main task. espdelta's virtual device prints register dumps whose
 * MEPC and RA point into these functions, so a symboliser can be tested.
 * Build: see SOURCES.md.
 */
    .option norvc
    .text
    .globl vPortTaskWrapper
    .type vPortTaskWrapper, @function
vPortTaskWrapper:
    addi sp, sp, -16
    sw ra, 12(sp)
    jal ra, main_task
1:  j 1b
    .size vPortTaskWrapper, .-vPortTaskWrapper

    .globl main_task
    .type main_task, @function
main_task:
    addi sp, sp, -16
    sw ra, 12(sp)
    jal ra, app_main
    lw ra, 12(sp)
    addi sp, sp, 16
    ret
    .size main_task, .-main_task

    .globl app_main
    .type app_main, @function
app_main:
    addi sp, sp, -16
    sw ra, 12(sp)
    li a5, 0
    lw a0, 0(a5)        /* load from address 0: Load access fault */
    lw ra, 12(sp)
    addi sp, sp, 16
    ret
    .size app_main, .-app_main
