const {Kafka,logLevel}=require('kafkajs');
(async()=>{const k=new Kafka({brokers:[process.env.KAFKA_BROKERS],logLevel:logLevel.NOTHING});const a=k.admin();await a.connect();const topics=(await a.listTopics()).sort();console.log(topics.join(' '));
const user=process.argv[2];const out={};
for(const t of topics.filter(t=>/(raw|enriched|connection|ledger)/.test(t))){const offs=await a.fetchTopicOffsets(t);const c=k.consumer({groupId:'lead-'+Date.now()+Math.random()});await c.connect();await c.subscribe({topic:t,fromBeginning:true});
 const total=offs.reduce((s,o)=>s+Number(o.high)-Number(o.low),0);let seen=0;const ts=[];
 await new Promise(res=>{c.run({eachMessage:async({message})=>{seen++;if(message.key&&message.key.toString()===user||(message.value&&message.value.includes(Buffer.from(user))))ts.push(Number(message.timestamp));if(seen>=total)res();}});setTimeout(res,20000);});
 await c.disconnect();ts.sort((x,y)=>x-y);out[t]={n:ts.length,first:ts[0],last:ts[ts.length-1]};}
console.log(JSON.stringify(out,null,1));await a.disconnect();})();
