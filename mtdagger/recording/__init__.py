"""Evaluation bags (rosbag2 MCAP, written with rosbags, no ROS needed) and the reports made from them.

- `layout`: the topic map, QoS profiles, `BagMetadata` and `EpisodeInfo` shared by writer and reader.
- `bag_writer.EvaluationBagWriter`: records a trial step by step; survives being killed.
- `bag_reader.read_evaluation_bag`: bag directory -> `EvaluationBag` of `EpisodeSummary`s.
- `bag_files`: the raw layer under the readers (locate the .mcap files, closed or killed, and
  stream their records lazily); `depth_frames` and `repair` use it too.
- `report.write_report`: bags -> report.md + PNGs (`mtdagger report`).

Submodules are imported explicitly (`from mtdagger.recording.bag_writer import ...`) so that
reading a bag does not import the writer's message factory and vice versa.
"""
